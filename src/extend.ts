/**
 * Extension points, and only those: a resolver of your own (discovery), a
 * balancer of your own (selected by a Service's loadBalancer), a filter of your
 * own (placed in the client stack by role, createMesh({ filters })), and the
 * types they see.
 */
export type { Resolver, ResolverUpdate, EndpointInfo, ServiceKey } from './discovery/resolver.js';
export { StaticResolver, type StaticEndpoint } from './discovery/static-resolver.js';
export { registerBalancer, type BalancerFactory } from './client/concrete/balancers/registry.js';
export type { Balancer, PickContext } from './client/concrete/balancer.js';
export type { Endpoint } from './client/endpoint/endpoint.js';
export type { CallView, AttemptView, MeshFilter, FilterRole, PlacedFilter } from './client/call/call-view.js';
export type { Verdict, Outcome, FailureClass, Progress, RetryCondition } from './core/classifier.js';
