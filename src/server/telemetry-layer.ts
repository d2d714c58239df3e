/**
 * The inbound telemetry layer: a SERVER span per request (or the mesh's
 * attributes on the one an HTTP instrumentation already made), the request's
 * trace context made current for the application — even with no SDK, so the
 * calls it makes carry the caller's trace on — and, when the response is done,
 * the duration metric, inbound stats and access log line.
 *
 * Synchronous like every inbound layer: it adds one 'close' listener and no
 * promise per request.
 */
import { runWithContext } from '../telemetry/context.js';
import type { MeshTelemetry } from '../telemetry/mesh-telemetry.js';
import { ServerRequestTelemetry } from '../telemetry/server-request.js';
import { getPeer } from './peer.js';
import type { InboundFilter } from './stack.js';

export function inboundTelemetry(t: MeshTelemetry): InboundFilter {
  return (next) => (req, res) => {
    const peer = getPeer(req);
    const rec = new ServerRequestTelemetry(t, req, peer ? { id: peer.id, service: peer.service } : undefined);
    // 'close' comes after 'finish' for a complete response, and alone when the connection died first.
    res.once('close', () => rec.finish(req, res, res.writableFinished));
    runWithContext(rec.context, next, req, res);
  };
}
