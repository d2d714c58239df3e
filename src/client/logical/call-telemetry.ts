/**
 * Call telemetry (outermost, logical tier): one span per mesh call, the
 * trace-context headers every attempt carries, and at the end the duration
 * metric, edge stats and access log line. Outermost so that its duration
 * covers deadline, retries and backoff, and so that every layer below runs
 * with its span active (an undici instrumentation parents its per-request
 * spans on it). Each attempt's event is endpoint/attempt-telemetry.ts's.
 */
import { context } from '@opentelemetry/api';
import type { Filter } from '../../core/filter.js';
import type { ClientTarget } from '../../telemetry/call-target.js';
import { ClientCallTelemetry } from '../../telemetry/client-call.js';
import { incomingPassthrough, outgoingParent } from '../../telemetry/context.js';
import type { MeshTelemetry } from '../../telemetry/mesh-telemetry.js';
import type { Attempt } from '../endpoint/attempt.js';
import type { MeshCall } from '../call/mesh-call.js';
import { getHeader } from '../call/headers.js';
import { PARENT_ROUTES, type ParentRoutedOptions } from './routing/route-layer.js';

export interface CallTelemetryTarget {
  name: string;
  namespace: string;
}

/**
 * The call's end is not awaited here: the dispatcher tells the record the
 * status as it delivers the response (`responded`), and MeshCall tells it
 * when the body is done or the call failed (`completed`/`failed`). So this
 * layer adds no promise and no closure per call; without an SDK it is a
 * global check, one object and one clock read.
 */
export function callTelemetry(t: MeshTelemetry, dest: CallTelemetryTarget): Filter<MeshCall, Attempt> {
  return (next) => {
    // Resolved once per destination stack: recording is then a few increments.
    const called = t.clientTarget(dest.namespace, dest.name);
    // A gateway's call only travels through this destination (its Gateway's routes decide where it goes).
    const carried: ClientTarget = { ...called, carrier: true };
    return (call) => {
      const opts = call.opts;
      const target = (opts as ParentRoutedOptions)[PARENT_ROUTES] === undefined ? called : carried;
      if (!t.tracing()) {
        // No SDK: no span to make; pass the incoming request's trace context on as it came.
        const passthrough = incomingPassthrough();
        call.telemetry = new ClientCallTelemetry(t, target, opts.method, opts.path, undefined, passthrough?.traceparent, call);
        // A traceparent the application set on this call is its own decision: the trace headers stay as it set them.
        if (passthrough !== undefined && getHeader(opts.headers, 'traceparent') === undefined) call.addHeaders(passthrough);
        return next(call);
      }
      const rec = new ClientCallTelemetry(t, target, opts.method, opts.path, outgoingParent(), undefined, call);
      const headers = rec.headers();
      if (headers !== undefined) call.addHeaders(headers);
      call.telemetry = rec;
      // The span is made current below only when something there reads it: an undici instrumentation
      // parents its per-request spans on it. The mesh's own layers find it on the call. Not entering the
      // context manager otherwise matters beyond the one call: the first AsyncLocalStorage run turns on
      // Node's promise hooks for the whole process (Node 20), a cost on every promise from then on.
      return rec.delegated ? context.with(rec.context!, next, undefined, call) : next(call);
    };
  };
}
