// One implementation of the phase-1 telemetry wiring, shared with examples/telemetry.
export { TelemetryClient as TestClient, startTracedServer, retryOnce503, namedRoute, type TracedServer as TestService } from '../../examples/lib/telemetry-stack.js';
