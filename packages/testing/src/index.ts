export * from './wait-for.js';
export * from './processes.js';
