export * from './resolver.js';
export * from './static-resolver.js';
export * from './control-plane-client.js';
export * from './control-plane-resolver.js';
export * from './watch-stream.js';
export * from './watch-cache.js';
export * from './registration.js';
