export * from './republish-lost-scans.js';
