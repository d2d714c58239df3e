/** src/telemetry: tracing, metrics, edge stats and the access log, through @opentelemetry/api only. */
export { MeshTelemetry, type TelemetryOptions, type EndpointState, type CertificateInfo, type StatsSnapshot } from './mesh-telemetry.js';
export { ClientCallTelemetry, type CallFacts, type ClientTarget } from './client-call.js';
export { ServerRequestTelemetry, setServerRoute, type PeerInfo } from './server-request.js';
export { apiInUse, extractIncoming, incomingPassthrough, outgoingHeaders, outgoingParent, passthroughHeaders, runIncoming, sdkActive, type Incoming } from './context.js';
export { writeAccessLog, type AccessLogEntry, type AccessLogSink } from './access-log.js';
export type { EdgeSnapshot, TrafficSnapshot } from './traffic.js';
export * as semconv from './semconv.js';
