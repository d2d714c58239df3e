/** Extension points: bring your own resolver, balancer or filter. */
export type { Resolver, ResolverUpdate, EndpointInfo, ServiceKey } from './discovery/resolver.js';
export { StaticResolver, type StaticEndpoint } from './discovery/static-resolver.js';
export type { Balancer } from './client/concrete/balancer.js';
export { RoundRobinBalancer } from './client/concrete/balancers/round-robin.js';
export type { Endpoint } from './client/endpoint/endpoint.js';
export type { MeshCall } from './client/call/mesh-call.js';
export type { Attempt } from './client/endpoint/attempt.js';
export { compose, type Filter, type Handler } from './core/filter.js';
export { classifyStatus, classifyError, type Outcome } from './core/classifier.js';
