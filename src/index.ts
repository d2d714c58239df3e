/**
 * The public surface of hyphae. Extension points (custom resolvers, balancers,
 * filters) live in 'hyphae/extend'; the control plane in 'hyphae/control-plane'.
 */
export { createMesh, Mesh, type MeshFetch, type MeshRequestOptions, type EndpointView } from './mesh/mesh.js';
export type { MeshOptions } from './mesh/options.js';
export { meshFetch, meshRequest, wrapServer, getDefaultMesh, closeDefaultMesh } from './mesh/default-mesh.js';
export { ENV, optionsFromEnv as meshOptionsFromEnv } from './mesh/env.js';
export type { WrapServerOptions, WrappableServer } from './server/wrap-server.js';
export type { RegisteredInstance } from './server/registrar.js';
export { getPeer, type PeerIdentity } from './server/peer.js';
/** In a handler: the request's deadline, the time left, and a signal that aborts at the deadline or when the caller leaves. */
export { getDeadline, getRemainingMs, getSignal } from './server/deadline-intake.js';
export type { ResilienceHooks, RetryHookEvent, BudgetHookEvent, EjectionHookEvent, EndpointHookEvent, ShedHookEvent, LimitHookEvent } from './resilience/hooks.js';
export { MeshError, ErrorCode, isMeshError, type ErrorCodeValue } from './core/errors.js';
export type { Logger } from './core/logger.js';
// Telemetry (issue 6): name the route template a request was handled with; the trace id every request has (issue 20); the access log's line shape.
export { setServerRoute, getTraceId } from './telemetry/server-request.js';
export type { AccessLogEntry, AccessLogSink } from './telemetry/access-log.js';
