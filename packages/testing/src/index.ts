export * from './processes.js';
export * from './wait-for.js';
