export * from './dependency-checks.js';
export * from './service-process.js';
