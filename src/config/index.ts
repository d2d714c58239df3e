export * from './names.js';
export * from './instance.js';
export * from './resources.js';
export * from './validate.js';
export * from './wire.js';
