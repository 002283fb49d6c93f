import {
  type LocalNginxConf,
  localNginxConf as local,
  type RunningNginx,
  startNginx as start,
  nginxTest as test,
} from '@scanner/edge/nginx';
import { requireTool } from './tools.js';

export { waitUntilServing } from '@scanner/edge/nginx';
export type { LocalNginxConf, RunningNginx };
export const NGINX_APT_PACKAGE = 'nginx';

export function nginxBinary(): string {
  return requireTool('nginx', NGINX_APT_PACKAGE, ['/usr/sbin', '/usr/local/sbin']);
}

/**
 * The shipped nginx.conf on local ports (`@scanner/edge/nginx`), the access log kept on stdout as
 * in the image: these tests read it from the output file.
 */
export function localNginxConf(
  upstreamPorts: Record<string, number>,
  listenPort: number,
): LocalNginxConf {
  const upstreams = Object.fromEntries(
    Object.entries(upstreamPorts).map(([name, port]) => [name, `127.0.0.1:${port}`]),
  );
  return local({ upstreams, host: '127.0.0.1', port: listenPort, accessLog: '/dev/stdout' });
}

export const nginxTest = (conf: LocalNginxConf) => test(nginxBinary(), conf);
export const startNginx = (conf: LocalNginxConf): RunningNginx => start(nginxBinary(), conf);
