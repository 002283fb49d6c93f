export * from './content-address.js';
export * from './hash-stream.js';
export * from './letter-counter.js';
export * from './letters.js';
export * from './scan-file.js';
export * from './storage-tier.js';
