export * from './direct-routes.js';
export * from './health.js';
export * from './metrics.js';
export * from './problem.js';
export * from './request-context.js';
export * from './send-json.js';
export * from './service-app.js';
export * from './shutdown.js';
