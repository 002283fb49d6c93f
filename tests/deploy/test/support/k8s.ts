import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import ts from 'typescript';
import { parseAllDocuments } from 'yaml';
import { packageRoot, repoPath } from './tools.js';

export const K8S_DIR = repoPath('infra', 'k8s');

export interface Manifest {
  /** file.yaml#index, for messages. */
  origin: string;
  file: string;
  apiVersion: string;
  kind: string;
  name: string;
  namespace: string | undefined;
  // biome-ignore lint/suspicious/noExplicitAny: a parsed YAML document, inspected field by field
  doc: any;
}

/** Every object in infra/k8s/*.yaml except kustomization.yaml; YAML errors throw. */
export function loadManifests(): Manifest[] {
  const files = readdirSync(K8S_DIR)
    .filter((f) => /\.ya?ml$/.test(f) && f !== 'kustomization.yaml')
    .sort();
  const out: Manifest[] = [];
  for (const file of files) {
    const docs = parseAllDocuments(readFileSync(join(K8S_DIR, file), 'utf8'));
    if (!Array.isArray(docs)) throw new Error(`${file}: not a YAML stream`);
    docs.forEach((d, i) => {
      if (d.errors.length > 0)
        throw new Error(`${file}#${i}: ${d.errors.map((e) => e.message).join('; ')}`);
      const doc = d.toJS();
      if (doc === null || doc === undefined) return;
      out.push({
        origin: `${file}#${i}`,
        file,
        apiVersion: doc.apiVersion,
        kind: doc.kind,
        name: doc.metadata?.name,
        namespace: doc.metadata?.namespace,
        doc,
      });
    });
  }
  return out;
}

/** Where the model (validator and type) of an apiVersion/kind lives; undefined = unknown kind. */
export function modelModule(apiVersion: string, kind: string): string | undefined {
  if (apiVersion === 'keda.sh/v1alpha1') return `@kubernetes-models/keda/keda.sh/v1alpha1/${kind}`;
  const known: Record<string, true> = {
    'v1/Namespace': true,
    'v1/ConfigMap': true,
    'v1/Secret': true,
    'v1/Service': true,
    'v1/PersistentVolumeClaim': true,
    'apps/v1/Deployment': true,
    'batch/v1/Job': true,
    'networking.k8s.io/v1/Ingress': true,
    'policy/v1/PodDisruptionBudget': true,
  };
  return known[`${apiVersion}/${kind}`] ? `kubernetes-models/${apiVersion}/${kind}` : undefined;
}

/**
 * Schema validation by kubernetes-models (the upstream OpenAPI schemas compiled to validators):
 * types, required fields, enums and formats. Returns the problems, empty when valid.
 */
export async function validateManifest(m: Manifest): Promise<string[]> {
  const module = modelModule(m.apiVersion, m.kind);
  if (!module) return [`${m.origin}: no schema known for ${m.apiVersion} ${m.kind}`];
  const exports = (await import(module)) as Record<
    string,
    new (
      data: unknown,
    ) => { validate(): void }
  >;
  const Model = exports[m.kind];
  if (!Model) return [`${m.origin}: ${module} exports no ${m.kind}`];
  try {
    new Model(m.doc).validate();
    return [];
  } catch (err) {
    return [`${m.origin} (${m.kind} ${m.name}): ${(err as Error).message}`];
  }
}

/**
 * The schemas' validators accept unknown fields, so a misspelt key (`readinesProbe`) would pass.
 * TypeScript's excess-property check on the same models' types catches those: each manifest
 * becomes `const m: IKind = <the object>` in a virtual file that is type-checked.
 */
export function unknownFieldProblems(manifests: Manifest[]): string[] {
  const fileName = join(packageRoot, '__k8s_manifests__.ts');
  const origins: Array<{ line: number; origin: string }> = [];
  let src = '';
  manifests.forEach((m, i) => {
    src += `import type { I${m.kind} as T${i} } from '${modelModule(m.apiVersion, m.kind)}';\n`;
  });
  manifests.forEach((m, i) => {
    origins.push({ line: src.split('\n').length - 1, origin: `${m.origin} (${m.kind} ${m.name})` });
    src += `export const m${i}: T${i} = ${JSON.stringify(m.doc, null, 2)};\n`;
  });

  const options: ts.CompilerOptions = {
    strict: true,
    noEmit: true,
    skipLibCheck: true,
    target: ts.ScriptTarget.ES2022,
    module: ts.ModuleKind.NodeNext,
    moduleResolution: ts.ModuleResolutionKind.NodeNext,
    types: [],
  };
  const host = ts.createCompilerHost(options);
  const getSourceFile = host.getSourceFile.bind(host);
  host.getSourceFile = (name, languageVersion, ...rest) =>
    name === fileName
      ? ts.createSourceFile(name, src, languageVersion)
      : getSourceFile(name, languageVersion, ...rest);
  const fileExists = host.fileExists.bind(host);
  host.fileExists = (name) => name === fileName || fileExists(name);
  const readFile = host.readFile.bind(host);
  host.readFile = (name) => (name === fileName ? src : readFile(name));

  const program = ts.createProgram([fileName], options, host);
  return ts.getPreEmitDiagnostics(program).map((d) => {
    const message = ts.flattenDiagnosticMessageText(d.messageText, '\n');
    if (!d.file || d.start === undefined) return message;
    const { line } = d.file.getLineAndCharacterOfPosition(d.start);
    const origin = [...origins].reverse().find((o) => o.line <= line)?.origin ?? d.file.fileName;
    const text = src.split('\n')[line]?.trim() ?? '';
    return `${origin}: ${message}\n    at: ${text}`;
  });
}

/** The pod templates of the workloads (Deployments and Jobs). */
// biome-ignore lint/suspicious/noExplicitAny: see Manifest.doc
export function podSpec(m: Manifest): any {
  return m.doc.spec?.template?.spec;
}
