export * from './processes.js';
export * from './wait-for.js';
export * from './tcp-proxy.js';
