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
import type http from 'node:http';
import { runIncoming } from '../telemetry/context.js';
import type { MeshTelemetry } from '../telemetry/mesh-telemetry.js';
import { ServerRequestTelemetry } from '../telemetry/server-request.js';
import { getPeer } from './peer.js';
import type { InboundFilter } from './stack.js';

const kRecord = Symbol('hyphae.telemetry');

type Tracked = http.ServerResponse & { [kRecord]?: ServerRequestTelemetry };

// One function for every response ('close' comes after 'finish' for a complete one, alone when the connection died first).
function onClose(this: Tracked): void {
  this[kRecord]?.finish(this, this.writableFinished);
}

export function inboundTelemetry(t: MeshTelemetry): InboundFilter {
  return (next) => (req, res) => {
    const peer = getPeer(req);
    const rec = new ServerRequestTelemetry(t, req, peer ? { id: peer.id, service: peer.service } : undefined);
    (res as Tracked)[kRecord] = rec;
    res.on('close', onClose);
    // Nothing to carry (no SDK, no incoming trace): skip the AsyncLocalStorage, whose first use turns on promise hooks.
    if (rec.carries) runIncoming(rec, next, req, res);
    else next(req, res);
  };
}
