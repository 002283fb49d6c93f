// Validates real HTTP responses against the OpenAPI document, for tests: the document's schemas are
// JSON Schema 2020-12 (OpenAPI 3.1's dialect), compiled by Ajv in strict mode straight from the
// document, so a schema the validator cannot understand fails as loudly as a response that does
// not match. Nothing here is used in production.
import { Ajv2020, type ValidateFunction } from 'ajv/dist/2020.js';
import addFormatsModule from 'ajv-formats';
import { openApiDocument } from './openapi-document.js';
import type {
  Header,
  HttpMethod,
  OpenApiDocument,
  Operation,
  Reference,
  Response,
} from './openapi-types.js';

// ajv-formats is CommonJS with `exports.default`; under NodeNext the default import is the module.
const addFormats = addFormatsModule as unknown as typeof addFormatsModule.default;

const DOC_ID = 'https://scanner.dev/openapi.json';

/** Top-level and schema-level OpenAPI keywords Ajv must accept without validating them. */
const OPENAPI_KEYWORDS = [
  'openapi',
  'info',
  'servers',
  'tags',
  'paths',
  'components',
  'security',
  'webhooks',
  'jsonSchemaDialect',
  'externalDocs',
  'discriminator',
  'xml',
  'example',
];

export interface ObservedResponse {
  status: number;
  headers: Headers;
  /** Parsed JSON for JSON media types, the text otherwise. */
  body: unknown;
}

export interface MatchedOperation {
  path: string;
  method: HttpMethod;
  operation: Operation;
}

export interface ContractValidator {
  /** The documented operation a request path (no query) and method hit, if any. */
  match(method: string, requestPath: string): MatchedOperation | undefined;
  /** Everything wrong with this response for that operation; empty when it matches the document. */
  check(op: MatchedOperation, res: ObservedResponse): string[];
  /** Compiles every schema in the document (components, bodies, headers, parameters); throws on the first bad one. */
  compileAll(): number;
}

const escapePointer = (segment: string) =>
  encodeURIComponent(segment.replace(/~/g, '~0').replace(/\//g, '~1'));
const pointer = (segments: string[]) => `${DOC_ID}#/${segments.map(escapePointer).join('/')}`;

function mediaTypeOf(headers: Headers): string | null {
  const raw = headers.get('content-type');
  return raw ? (raw.split(';')[0] as string).trim().toLowerCase() : null;
}

function templateRegex(template: string): RegExp {
  const source = template
    .split(/(\{[^}]+\})/)
    .map((part) => (part.startsWith('{') ? '[^/]+' : part.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')))
    .join('');
  return new RegExp(`^${source}$`);
}

export function createContractValidator(doc: OpenApiDocument = openApiDocument): ContractValidator {
  const ajv = new Ajv2020({ strict: true, allErrors: true, validateFormats: true });
  addFormats(ajv);
  ajv.addVocabulary(OPENAPI_KEYWORDS);
  ajv.addSchema({ ...doc, $id: DOC_ID });

  const compiled = new Map<string, ValidateFunction>();
  const validatorAt = (segments: string[]): ValidateFunction => {
    const ref = pointer(segments);
    let fn = compiled.get(ref);
    if (!fn) {
      fn = ajv.getSchema(ref);
      if (!fn) throw new Error(`no schema at ${ref}`);
      compiled.set(ref, fn);
    }
    return fn;
  };

  /** Follows an OpenAPI `$ref` (responses, headers) to the object and its location. */
  function deref<T>(value: T | Reference, at: string[]): { value: T; at: string[] } {
    if (typeof value !== 'object' || value === null || !('$ref' in value))
      return { value: value as T, at };
    const target = value.$ref
      .replace(/^#\//, '')
      .split('/')
      .map((s) => s.replace(/~1/g, '/').replace(/~0/g, '~'));
    let node: unknown = doc;
    for (const s of target) node = (node as Record<string, unknown> | undefined)?.[s];
    if (node === undefined) throw new Error(`unresolvable $ref ${value.$ref}`);
    return deref(node as T | Reference, target);
  }

  const routes = Object.entries(doc.paths).map(([path, item]) => ({
    path,
    item,
    regex: templateRegex(path),
    literal: !path.includes('{'),
  }));
  // A literal path wins over a template that also matches.
  routes.sort((a, b) => Number(b.literal) - Number(a.literal));

  const errorsOf = (fn: ValidateFunction, where: string) =>
    (fn.errors ?? []).map(
      (e) =>
        `${where}${e.instancePath || ''} ${e.message ?? e.keyword} ${JSON.stringify(e.params)}`,
    );

  return {
    match(method, requestPath) {
      const m = method.toLowerCase() as HttpMethod;
      for (const r of routes) {
        const operation = r.item[m];
        if (operation && r.regex.test(requestPath)) return { path: r.path, method: m, operation };
      }
      return undefined;
    },

    check({ path, method, operation }, res) {
      const errors: string[] = [];
      const base = ['paths', path, method, 'responses'];
      const documented = operation.responses[String(res.status)];
      if (!documented) {
        return [
          `${method.toUpperCase()} ${path}: status ${res.status} is not documented (documented: ${Object.keys(operation.responses).join(', ')})`,
        ];
      }
      const { value: response, at } = deref<Response>(documented, [...base, String(res.status)]);
      const where = `${method.toUpperCase()} ${path} ${res.status}`;

      for (const [name, h] of Object.entries(response.headers ?? {})) {
        const { value: header, at: headerAt } = deref<Header>(h, [...at, 'headers', name]);
        const actual = res.headers.get(name);
        if (actual === null) {
          if (header.required) errors.push(`${where}: required header ${name} is missing`);
          continue;
        }
        const fn = validatorAt([...headerAt, 'schema']);
        if (!fn(actual)) errors.push(...errorsOf(fn, `${where} header ${name}`));
      }

      const mediaType = mediaTypeOf(res.headers);
      const content = response.content ?? {};
      if (Object.keys(content).length === 0) {
        if (res.body !== '' && res.body !== undefined)
          errors.push(`${where}: no body is documented, got one`);
        return errors;
      }
      if (!mediaType || !(mediaType in content)) {
        errors.push(
          `${where}: content-type ${mediaType} is not documented (documented: ${Object.keys(content).join(', ')})`,
        );
        return errors;
      }
      const fn = validatorAt([...at, 'content', mediaType, 'schema']);
      if (!fn(res.body)) errors.push(...errorsOf(fn, `${where} body`));
      return errors;
    },

    compileAll() {
      let count = 0;
      const walk = (node: unknown, at: string[]) => {
        if (typeof node !== 'object' || node === null) return;
        for (const [key, value] of Object.entries(node)) {
          if (key === 'schema' && typeof value === 'object' && value !== null) {
            validatorAt([...at, key]);
            count++;
          } else {
            walk(value, [...at, key]);
          }
        }
      };
      for (const name of Object.keys(doc.components.schemas ?? {})) {
        validatorAt(['components', 'schemas', name]);
        count++;
      }
      walk(doc.paths, ['paths']);
      walk(doc.components.responses, ['components', 'responses']);
      walk(doc.components.headers, ['components', 'headers']);
      walk(doc.components.parameters, ['components', 'parameters']);
      return count;
    },
  };
}
