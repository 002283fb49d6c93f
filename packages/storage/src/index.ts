export * from './place-content.js';
export * from './received-content.js';
export * from './volume.js';
