import { createRequire } from 'node:module';
import { dirname } from 'node:path';
import type { Router } from 'express';
import { openApiDocument } from './openapi-document.js';

// Resolved once, lazily: the package's main module would load the whole UI bundle into Node.
let assetRoot: string | undefined;
function swaggerUiRoot(): string {
  assetRoot ??= dirname(createRequire(import.meta.url).resolve('swagger-ui-dist/package.json'));
  return assetRoot;
}

/** The only files served from swagger-ui-dist (its index.html and initializer point at a demo API). */
const ASSETS: Record<string, string> = {
  'swagger-ui.css': 'text/css; charset=utf-8',
  'swagger-ui-bundle.js': 'text/javascript; charset=utf-8',
  'favicon-32x32.png': 'image/png',
};

// No inline script, so the page runs under a strict Content-Security-Policy. validatorUrl: null
// keeps Swagger UI from calling its public validator: the page makes no request off this origin.
const INIT_SCRIPT = `window.addEventListener('load', function () {
  var el = document.getElementById('swagger-ui');
  window.ui = SwaggerUIBundle({
    url: el.getAttribute('data-spec-url'),
    dom_id: '#swagger-ui',
    deepLinking: true,
    validatorUrl: null,
    tryItOutEnabled: false,
  });
});
`;

const CSP = [
  "default-src 'none'",
  "script-src 'self'",
  "style-src 'self' 'unsafe-inline'",
  "img-src 'self' data:",
  "connect-src 'self'",
  "font-src 'self' data:",
  "base-uri 'none'",
  "form-action 'none'",
  "frame-ancestors 'none'",
].join('; ');

const escapeHtml = (s: string) => s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

function docsPage(base: string): string {
  const title = escapeHtml(`${openApiDocument.info.title} API ${openApiDocument.info.version}`);
  return `<!doctype html>
<html lang="en">
<head>
  <meta charset="utf-8">
  <meta name="viewport" content="width=device-width, initial-scale=1">
  <title>${title}</title>
  <link rel="icon" type="image/png" href="${base}/docs/assets/favicon-32x32.png">
  <link rel="stylesheet" href="${base}/docs/assets/swagger-ui.css">
</head>
<body>
  <noscript><p>This page needs JavaScript. The raw document is at <a href="${base}/openapi.json">${base}/openapi.json</a>.</p></noscript>
  <div id="swagger-ui" data-spec-url="${base}/openapi.json"></div>
  <script src="${base}/docs/assets/swagger-ui-bundle.js"></script>
  <script src="${base}/docs/assets/init.js"></script>
</body>
</html>
`;
}

/**
 * `GET /openapi.json` (the document) and `GET /docs` (Swagger UI, served from node_modules: no
 * CDN, works offline). Mount before the 404 handler.
 */
export function mountApiDocs(router: Router): void {
  const documentJson = JSON.stringify(openApiDocument);

  router.get('/openapi.json', (_req, res) => {
    res.setHeader('Cache-Control', 'no-cache');
    res.type('application/json').send(documentJson);
  });

  router.get('/docs', (req, res) => {
    res.setHeader('Content-Security-Policy', CSP);
    res.setHeader('Cache-Control', 'no-cache');
    res.type('text/html').send(docsPage(req.baseUrl));
  });

  router.get('/docs/assets/init.js', (_req, res) => {
    res.setHeader('Cache-Control', 'no-cache');
    res.type('text/javascript').send(INIT_SCRIPT);
  });

  router.get('/docs/assets/:file', (req, res, next) => {
    const file = req.params.file;
    const type = Object.hasOwn(ASSETS, file) ? ASSETS[file] : undefined;
    if (!type) {
      next();
      return;
    }
    // Fixed names from a pinned package: safe to cache for a day.
    // `root` (not an absolute path): send refuses paths with dot segments, and pnpm keeps packages
    // under node_modules/.pnpm.
    res.sendFile(
      file,
      { root: swaggerUiRoot(), maxAge: 86_400_000, headers: { 'Content-Type': type } },
      (err) => {
        if (err && !res.headersSent) next(err);
      },
    );
  });
}
