/**
 * Attempt telemetry (endpoint tier, right under the balancer): one span event
 * per attempt with `http.request.resend_count`, the endpoint it went to (and its cluster), its
 * status or error, and the retry reason; on the span, the protocol version the answer came over. Below the balancer because only
 * there is the attempt's endpoint known; a plain pass unless the call's span
 * records.
 */
import type { Filter } from '../../core/filter.js';
import type { MeshCall } from '../call/mesh-call.js';
import type { Attempt } from './attempt.js';
import { ATTR_NETWORK_PROTOCOL_VERSION } from '../../telemetry/semconv.js';

export function attemptTelemetry(): Filter<MeshCall, Attempt> {
  return (next) => (call) => {
    const rec = call.telemetry;
    // Attempt events only matter to a recording span; otherwise this layer is a plain pass.
    if (rec === undefined || !rec.recording) return next(call);
    rec.attemptStarted(call.endpoint?.id, call.endpoint?.info.cluster);
    return next(call).then(
      (attempt) => {
        rec.attemptEnded(attempt.statusCode);
        // The protocol of the answer (issue 18): what the endpoint's connections negotiated; HTTP/1.1 unless one said h2.
        rec.span.setAttribute(ATTR_NETWORK_PROTOCOL_VERSION, attempt.endpoint.protocol === 'h2' ? '2' : '1.1');
        return attempt;
      },
      (err: unknown) => {
        rec.attemptEnded(0, err);
        throw err;
      },
    );
  };
}
