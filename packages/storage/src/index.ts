export * from './hashed-temp-file.js';
export * from './volume.js';
