// infra/docker/Dockerfile and the root .dockerignore, read without a Docker engine: the syntax
// (dockerfile-utils, the validator behind VS Code's Dockerfile support), the stages and what each
// image runs as. image-build.test.ts replays the build steps themselves.
import { readFileSync } from 'node:fs';
import { validate } from 'dockerfile-utils';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import {
  argDefault,
  BUILD_STEPS,
  buildContextFiles,
  DOCKERFILE,
  dockerignore,
  dropOutsideLinks,
  execForm,
  isFile,
  runs,
  stage,
  stages,
} from './support/docker.js';
import { repoPath } from './support/tools.js';

describe('infra/docker/Dockerfile', () => {
  const text = readFileSync(DOCKERFILE, 'utf8');

  it('has no syntax error or warning', () => {
    const problems = validate(text).map((d) => `line ${d.range.start.line + 1}: ${d.message}`);
    expect(problems).toEqual([]);
  });

  it('builds in stages and defaults to the service image, with a migrate target beside it', () => {
    expect(stages().map((s) => s.name)).toEqual([
      'base',
      'pruner',
      'builder',
      'runtime-base',
      'migrate',
      'service',
    ]);
  });

  it('runs on Node 20 slim, the major version the workspace requires', () => {
    const engines = JSON.parse(readFileSync(repoPath('package.json'), 'utf8')).engines
      .node as string;
    const major = /(\d+)/.exec(engines)?.[1];
    expect(argDefault('NODE_IMAGE')).toMatch(
      new RegExp(`^node:${major}(\\.[\\d.]+)?-(bookworm|bullseye|trixie)-slim$`),
    );
    expect(stage('runtime-base').from).toBe(`$${'{'}NODE_IMAGE}`);
  });

  it('prunes with the turbo version of the lockfile', () => {
    const lock = parse(readFileSync(repoPath('pnpm-lock.yaml'), 'utf8'));
    expect(argDefault('TURBO_VERSION')).toBe(lock.importers['.'].devDependencies.turbo.version);
  });

  it('prunes, installs from the lockfile with a cache mount, builds and deploys the package', () => {
    const pruner = runs(stage('pruner')).map((r) => r.command);
    expect(pruner).toContain(BUILD_STEPS.prune);
    const builder = runs(stage('builder'));
    const install = builder.find((r) => r.command.startsWith(BUILD_STEPS.install));
    expect(install?.flags.join(' ')).toMatch(/mount=type=cache,.*target=\/pnpm\/store/);
    expect(install?.command).toContain('--store-dir=/pnpm/store');
    expect(builder.some((r) => r.command === BUILD_STEPS.build)).toBe(true);
    const deploy = builder.find((r) => r.command.startsWith(BUILD_STEPS.deploy));
    expect(deploy?.command).toMatch(/ \/out && /);
    expect(deploy?.command.endsWith(`&& ${dropOutsideLinks('/out')}`)).toBe(true);
  });

  it.each(['migrate', 'service'])('runs the %s image as a non-root user under tini', (name) => {
    const s = stage(name);
    const user = s.instructions
      .filter((i) => i.getKeyword() === 'USER')
      .at(-1)
      ?.getArgumentsContent();
    expect(user).toMatch(/^[1-9]\d*(:\d+)?$/);
    expect(execForm(stage('runtime-base'), 'ENTRYPOINT')).toEqual(['/usr/bin/tini', '--']);
    expect(s.instructions.some((i) => i.getKeyword() === 'ENTRYPOINT')).toBe(false);
  });

  it('starts a service with `node dist/main.js` and checks it with GET /healthz', () => {
    const service = stage('service');
    expect(execForm(service, 'CMD')).toEqual(['node', 'dist/main.js']);
    expect(execForm(service, 'HEALTHCHECK')).toEqual([
      'node',
      '/usr/local/lib/scanner/healthcheck.mjs',
    ]);
    expect(readFileSync(repoPath('infra', 'docker', 'healthcheck.mjs'), 'utf8')).toMatch(
      /'\/healthz'/,
    );
    const env = service.instructions
      .filter((i) => i.getKeyword() === 'ENV')
      .map((i) => i.getArgumentsContent());
    expect(env.join(' ')).toMatch(/PORT=\$\{PORT\}/);
  });

  it('starts the migrate image with scanner-migrate', () => {
    const bin = JSON.parse(readFileSync(repoPath('packages', 'db', 'package.json'), 'utf8')).bin[
      'scanner-migrate'
    ];
    expect(execForm(stage('migrate'), 'CMD')).toEqual(['node', bin.replace(/^\.\//, '')]);
  });

  it('copies from the build context only files the context has', () => {
    const context = new Set(buildContextFiles());
    for (const s of stages()) {
      for (const ins of s.instructions.filter((i) => i.getKeyword() === 'COPY')) {
        const flags = (ins as unknown as { getFlags(): Array<{ getName(): string }> }).getFlags();
        if (flags.some((f) => f.getName() === 'from')) continue;
        const args = ins.getArguments().map((a) => a.getValue());
        for (const source of args.slice(0, -1)) {
          if (source === '.') continue;
          expect(
            context.has(source),
            `COPY ${source} (stage ${s.name}) is not in the build context`,
          ).toBe(true);
          expect(isFile(repoPath(source)), source).toBe(true);
        }
      }
    }
  });
});

describe('.dockerignore', () => {
  const ig = dockerignore();

  it('keeps out dependencies, build output, local state and secrets', () => {
    for (const path of [
      'node_modules/turbo/package.json',
      'packages/core/node_modules/x/index.js',
      'packages/core/dist/index.js',
      'services/upload-gateway/dist/main.js',
      '.git/HEAD',
      '.turbo/cache/x',
      '.tools/node_modules/pnpm/package.json',
      '.data/ab/cd/abcd',
      '.env',
      'services/janitor/.env',
      'tests/deploy/package.json',
      'infra/k8s/kustomization.yaml',
    ]) {
      expect(ig.ignores(path), path).toBe(true);
    }
  });

  it('sends the workspace manifests and every package and service source', () => {
    const context = buildContextFiles();
    for (const path of [
      'package.json',
      'pnpm-lock.yaml',
      'pnpm-workspace.yaml',
      'turbo.json',
      'tsconfig.base.json',
    ]) {
      expect(context, path).toContain(path);
    }
    for (const dir of ['packages', 'services']) {
      const sources = context.filter((f) => f.startsWith(`${dir}/`) && f.endsWith('package.json'));
      expect(sources.length, dir).toBeGreaterThan(0);
    }
    for (const svc of ['upload-gateway', 'status-query', 'scanner-worker', 'janitor']) {
      expect(
        context.some((f) => f.startsWith(`services/${svc}/src/`)),
        svc,
      ).toBe(true);
    }
  });
});
