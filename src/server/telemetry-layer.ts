/**
 * The inbound telemetry layer: a SERVER span per request (or the mesh's
 * attributes on the one an HTTP instrumentation already made), the request's
 * trace context made current for the application — even with no SDK, so the
 * calls it makes carry the caller's trace on — and, when the response is done,
 * the duration metric, inbound stats and access log line.
 *
 * Synchronous like every inbound layer: one shared 'close' listener and no
 * promise per request.
 */
import { runIncoming } from '../telemetry/context.js';
import { ATTR_NETWORK_PROTOCOL_VERSION } from '../telemetry/semconv.js';
import type { MeshTelemetry } from '../telemetry/mesh-telemetry.js';
import { onResponseClose, passesTraceItself, ServerRequestTelemetry } from '../telemetry/server-request.js';
import { getPeer } from './peer.js';
import type { InboundFilter } from './stack.js';

/** `http2`: for HTTP/2 requests, whose httpVersion reads "2.0" where semantic conventions want "2". */
export function inboundTelemetry(t: MeshTelemetry, http2 = false): InboundFilter {
  return (next) => (req, res) => {
    // The peer is looked up only if something uses it (spans, the server metric, the access log).
    const rec = new ServerRequestTelemetry(t, req, getPeer);
    if (http2 && rec.owned && rec.span.isRecording()) rec.span.setAttribute(ATTR_NETWORK_PROTOCOL_VERSION, '2');
    res.on('close', onResponseClose);
    // Nothing to carry, or (no SDK) a handler that passes the trace headers on itself: skip the AsyncLocalStorage,
    // whose first use turns on promise hooks for the whole process (Node 20, 22).
    if (rec.context !== undefined || (rec.passthrough !== undefined && !passesTraceItself(req))) runIncoming(rec, next, req, res);
    else next(req, res);
  };
}
