export { mountApiDocs } from './api-docs.js';
export { LETTERS, openApiDocument, PROBLEM_TYPE_PREFIX } from './openapi-document.js';
export type * from './openapi-types.js';
