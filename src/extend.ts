/** Extension points: bring your own resolver, balancer or filter. */
export type { Resolver, ResolverUpdate, EndpointInfo, ServiceKey } from './discovery/resolver.js';
export { StaticResolver, type StaticEndpoint } from './discovery/static-resolver.js';
export type { Balancer } from './client/balancer.js';
export { RoundRobinBalancer } from './client/balancers/round-robin.js';
export type { Endpoint } from './client/endpoint.js';
export type { MeshCall } from './client/call.js';
export type { Attempt } from './client/attempt.js';
export { compose, type Filter, type Handler } from './core/filter.js';
export { classifyStatus, classifyError, type Outcome } from './core/classifier.js';
