export * from './cleanup.repository.js';
export * from './db.js';
export * from './files.repository.js';
export * from './group-commit.js';
export * from './jobs.repository.js';
export * from './migrate.js';
export * from './schema.js';
