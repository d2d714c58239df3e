/**
 * The client stack, assembled here and nowhere else (DESIGN: "the stack is
 * assembled in ONE place per side"). Outermost first:
 *
 *   logical (per route)       telemetry (per call) -> later: deadline; route: match, filters, backend; later: retry
 *   concrete (per destination) balance: pick an endpoint of the chosen backend
 *   endpoint                  attempt telemetry -> later: outlier detection -> concurrency limit
 *   transport                 the endpoint's undici pool
 *
 * It is built once per destination; nothing here runs per request.
 */
import { compose, type Filter, type Handler } from '../core/filter.js';
import type { Attempt } from './attempt.js';
import { balance } from './balance.js';
import type { MeshCall } from './call.js';
import type { Destination } from './destination.js';
import { route } from './routing/route-layer.js';
import { transport } from './transport.js';
import { attemptTelemetry, callTelemetry } from './filters/telemetry.js';

export function buildClientStack(dest: Destination): Handler<MeshCall, Attempt> {
  const t = dest.telemetry;
  const layers: Filter<MeshCall, Attempt>[] = [
    // ---- telemetry (issue 6): outermost, so the call's span and duration cover everything below
    // (discovery wait, deadline, route, retries and backoff) and every layer runs with its span current.
    ...(t ? [callTelemetry(t, dest)] : []),
    // ---- end telemetry
    // Logical: the route decides the backend once per call (a fault abort answers here, never retried);
    // retry joins below it, so that each retry stays on the backend the route chose.
    route(dest),
    // Concrete: every attempt picks again, so a retry above can avoid an endpoint that failed.
    balance(dest),
    // ---- telemetry (issue 6): right under the balancer, the one place each attempt's endpoint is known;
    // one span event per attempt (only for a recording span; otherwise a plain pass).
    ...(t ? [attemptTelemetry()] : []),
    // ---- end telemetry
  ];
  return compose(layers, transport);
}
