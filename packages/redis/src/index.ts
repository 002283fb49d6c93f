export * from './caches.js';
export * from './client.js';
export * from './keys.js';
export * from './scan-queue.js';
