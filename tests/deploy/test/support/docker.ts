import { cpSync, mkdirSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join, relative } from 'node:path';
import type { Ignore } from '@balena/dockerignore';
import { DockerfileParser, type Instruction } from 'dockerfile-ast';
import { repoPath, repoRoot } from './tools.js';

// A CommonJS module whose typings claim an ES default export: load it as what it is.
const ignore = createRequire(import.meta.url)('@balena/dockerignore') as () => Ignore;

export const DOCKERFILE = repoPath('infra', 'docker', 'Dockerfile');
export const DOCKERIGNORE = repoPath('.dockerignore');

/** The build steps image-build.test.ts replays outside Docker; the Dockerfile must run the same ones. */
export const BUILD_STEPS = {
  prune: `turbo prune ${quotedArg('PACKAGE')} --docker`,
  install: 'pnpm install --frozen-lockfile',
  build: `pnpm turbo run build --filter=${quotedArg('PACKAGE')}`,
  deploy: `pnpm --filter=${quotedArg('PACKAGE')} --prod deploy --legacy`,
};

/** `"${NAME}"` as a Dockerfile writes a quoted build-argument reference. */
function quotedArg(name: string): string {
  return `"$${'{'}${name}}"`;
}

/** The Dockerfile's clean-up after `pnpm deploy`: remove links that lead out of the folder. */
export function dropOutsideLinks(out: string): string {
  return `find ${out} -type l -exec sh -c 'for l; do case "$(readlink -f "$l")" in ${out}/*) ;; *) rm -v "$l";; esac; done' sh {} +`;
}

export interface Stage {
  name: string;
  from: string;
  instructions: Instruction[];
}

/** The Dockerfile's stages in order, each with its own instructions. */
export function stages(text = readFileSync(DOCKERFILE, 'utf8')): Stage[] {
  const df = DockerfileParser.parse(text);
  const out: Stage[] = [];
  for (const ins of df.getInstructions()) {
    if (ins.getKeyword() === 'FROM') {
      const [image = '', , name = ''] = ins.getArguments().map((a) => a.getValue());
      out.push({ name, from: image, instructions: [] });
    } else {
      out.at(-1)?.instructions.push(ins);
    }
  }
  return out;
}

export function stage(name: string): Stage {
  const found = stages().find((s) => s.name === name);
  if (!found) throw new Error(`the Dockerfile has no stage ${name}`);
  return found;
}

/** The RUN commands of a stage, as written (continuations joined, flags such as --mount apart). */
export function runs(s: Stage): Array<{ command: string; flags: string[] }> {
  return s.instructions
    .filter((i) => i.getKeyword() === 'RUN')
    .map((i) => ({
      command: (i.getArgumentsContent() ?? '').replace(/\s+/g, ' ').trim(),
      flags: (i as unknown as { getFlags(): Array<{ toString(): string }> })
        .getFlags()
        .map((f) => f.toString()),
    }));
}

/** An instruction's exec-form (JSON array) arguments, e.g. CMD ["node","dist/main.js"]. */
export function execForm(s: Stage, keyword: string): string[] | undefined {
  const ins = s.instructions.filter((i) => i.getKeyword() === keyword).at(-1);
  if (!ins) return undefined;
  // HEALTHCHECK's arguments read `CMD [...]`: the array is what matters.
  const content = ins.getArgumentsContent() ?? '';
  const json = content.slice(content.indexOf('['));
  return JSON.parse(json) as string[];
}

/** The default value of a build argument (`ARG NAME=value`), wherever it is declared. */
export function argDefault(name: string): string | undefined {
  for (const ins of DockerfileParser.parse(readFileSync(DOCKERFILE, 'utf8')).getInstructions()) {
    if (ins.getKeyword() !== 'ARG') continue;
    const [key, value] = (ins.getArgumentsContent() ?? '').split('=');
    if (key === name) return value;
  }
  return undefined;
}

export function dockerignore(): Ignore {
  return ignore().add(readFileSync(DOCKERIGNORE, 'utf8'));
}

/**
 * The files `docker build .` would send from the repository root, per .dockerignore. Folders that
 * .dockerignore must exclude anyway (asserted separately) are not walked, to stay fast.
 */
export function buildContextFiles(): string[] {
  const ig = dockerignore();
  const skip = new Set([
    '.git',
    'node_modules',
    '.tools',
    '.data',
    '.turbo',
    'dist',
    '.test-results',
    'coverage',
  ]);
  const out: string[] = [];
  const walk = (dir: string) => {
    for (const entry of readdirSync(dir, { withFileTypes: true })) {
      if (entry.isDirectory() && skip.has(entry.name)) continue;
      const full = join(dir, entry.name);
      const rel = relative(repoRoot, full);
      if (entry.isDirectory()) walk(full);
      else if (entry.isFile() && !ig.ignores(rel)) out.push(rel);
    }
  };
  walk(repoRoot);
  return out.sort();
}

/** Copies the build context into `dest`, as the Docker daemon would receive it. */
export function copyBuildContext(dest: string): string[] {
  const files = buildContextFiles();
  for (const rel of files) {
    const target = join(dest, rel);
    mkdirSync(dirname(target), { recursive: true });
    cpSync(join(repoRoot, rel), target, { preserveTimestamps: true });
  }
  return files;
}

export function isFile(path: string): boolean {
  try {
    return statSync(path).isFile();
  } catch {
    return false;
  }
}
