/**
 * The client stack, assembled here and nowhere else (DESIGN: "the stack is
 * assembled in ONE place per side"). Outermost first:
 *
 *   logical   callTelemetry -> route -> deadline -> concurrencyLimit -> retry -> perTryTimeout
 *   concrete  balance
 *   endpoint  attemptTelemetry -> outlierDetection
 *   transport the endpoint's undici pool
 *
 * The telemetry layers are left out when the mesh runs with telemetry off.
 *
 * Built once per destination; nothing here runs per request. Each layer reads
 * the state in force for the call (rebuilt when a Service changes): the limiter,
 * retry budget and outlier detector of the service the call goes to (the
 * backend the route rule chose, else the destination), and the timeouts and
 * retry policy of the matched rule for that backend (`call.logical.routePolicy`)
 * or else the destination's.
 * docs/architecture.md has the table with the reasons.
 */
import { compose, type Filter, type Handler } from '../core/filter.js';
import type { Attempt } from './endpoint/attempt.js';
import { balance } from './concrete/balance.js';
import type { MeshCall } from './call/mesh-call.js';
import type { MeshTelemetry } from '../telemetry/mesh-telemetry.js';
import type { BackendService } from './concrete/backend-service.js';
import type { RouteSource } from './logical/routing/route-layer.js';
import type { ServicePolicy } from './logical/service-policy.js';
import { concurrencyLimit } from './logical/concurrency-limit.js';
import { deadline, perTryTimeout } from './logical/deadline.js';
import { outlierDetection } from './endpoint/outlier.js';
import { retry, type RetryEvent } from './logical/retry.js';
import { route } from './logical/routing/route-layer.js';
import { transport } from './endpoint/transport.js';
import { callTelemetry } from './logical/call-telemetry.js';
import { attemptTelemetry } from './endpoint/attempt-telemetry.js';
import type { ClientEventSink } from './events.js';
import type { FilterRole, PlacedFilter } from './call/call-view.js';

/** What the stack reads of its destination: its routes, its endpoints, its policy, its telemetry. */
export interface StackTarget extends RouteSource, BackendService {
  readonly policy: ServicePolicy;
  readonly telemetry: MeshTelemetry | undefined;
}

type Layer = Filter<MeshCall, Attempt> & { role?: FilterRole };

/** A layer with the role an application's filter may be placed against. */
function withRole(role: FilterRole, layer: Filter<MeshCall, Attempt>): Layer {
  return Object.assign(layer, { role });
}

export function buildClientStack(dest: StackTarget, events: ClientEventSink, filters: readonly PlacedFilter[] = []): Handler<MeshCall, Attempt> {
  const t = dest.telemetry;
  const layers: Layer[] = [
    // Call telemetry: outermost, so that its span and duration cover everything below — discovery, the limit
    // queue, every attempt and backoff — and every layer runs with the span active.
    ...(t ? [callTelemetry(t, dest)] : []),
    // Route match: decides the rule once per call (its filters, mirrors, faults, the backend) and with it the
    // timeouts and retry policy the layers below read. Before deadline, since the timeouts are the route's
    // (DESIGN had deadline first). Waits for discovery's first answer, bounded by the inbound deadline too.
    withRole('route', route(dest)),
    // Deadline: fixes the call's one deadline (route timeout, capped by the inbound request's) and arms its one
    // timer before anything below can wait (limit queue, backoff): every wait ends at it.
    withRole('deadline', deadline({ timeouts: (call) => (call.logical.routePolicy ?? dest.policy).timeouts })),
    // Concurrency limit: the limit of the service the call goes to (the backend the rule chose, else the
    // destination; Envoy's circuit breakers are per upstream cluster), one slot per call held until its body
    // ends; below route, which chose that backend; above retry so a retry reuses its call's slot and never
    // queues behind the limit.
    withRole(
      'limit',
      concurrencyLimit(
        (call) => (call.logical.backend?.service ?? dest.policy).limiter,
        (call, l) => {
          const to = call.logical.backend?.destination ?? dest;
          events.emit('limited', { destination: to.name, namespace: to.namespace, maxConcurrent: l.maxConcurrent, maxPending: l.maxPending }, call);
        },
      ),
    ),
    // Retry (the only one): above the balancer so each attempt picks again and avoids the endpoints that
    // failed this call; below route so it stays on the backend the rule chose; spends that backend's budget
    // (the destination's when no rule chose one), as the limit above counts against its limit.
    withRole(
      'retry',
      retry({
        policy: (call) => (call.logical.routePolicy ?? dest.policy).retryPolicy,
        budget: (call) => (call.logical.backend?.service ?? dest.policy).retryBudget,
        onRetry: retryEvents(dest, events),
      }),
    ),
    // Per-try timeout: re-arms the call's timer for this attempt and tells the next hop its budget
    // (x-hyphae-deadline-ms). Below retry: once per attempt.
    withRole('per-try-timeout', perTryTimeout()),
    // Concrete: pick an endpoint of the chosen backend for this attempt (ejected ones are out of the views;
    // the one on trial and the ones this call failed on are stepped past).
    withRole('balance', balance(dest)),
    // Attempt telemetry: right under balance, the one place each attempt's endpoint is known; one span
    // event per attempt (only for a recording span; otherwise a plain pass).
    ...(t ? [attemptTelemetry()] : []),
    // Outlier detection: reports each attempt's outcome to the health of the endpoint's own service (a route
    // may send to another service's subset) and claims the single trial request of a returning endpoint.
    withRole(
      'outlier',
      outlierDetection((call) => (call.logical.backend?.destination ?? dest).outlier),
    ),
  ];
  return compose(placeFilters(layers, filters), transport);
}

/**
 * The application's filters, each right before (outside) or right after (inside) the layer of its role,
 * in the order given. `before: 'transport'` is innermost: right above the endpoint's pool.
 */
function placeFilters(layers: Layer[], filters: readonly PlacedFilter[]): Filter<MeshCall, Attempt>[] {
  const out: Filter<MeshCall, Attempt>[] = [...layers];
  for (const f of filters) {
    const role = f.before ?? f.after;
    const at = role === 'transport' ? out.length : out.findIndex((l) => (l as Layer).role === role) + (f.before !== undefined ? 0 : 1);
    out.splice(at, 0, f.filter);
  }
  return out;
}

/** Each retry decision, once, into the sink: telemetry (the call's span, the counters) and the hooks hear it there. */
function retryEvents(dest: StackTarget, events: ClientEventSink): (e: RetryEvent) => void {
  return (e) => {
    if (!events.has('retry')) return;
    const call = e.call;
    // The service the call was retried on (the backend the rule chose), whose budget it spends.
    const to = call.logical.goesTo(dest);
    events.emit(
      'retry',
      {
        destination: to.name,
        namespace: to.namespace,
        route: call.logical.route,
        condition: e.condition,
        decision: e.decision,
        attempt: call.logical.attempt,
        endpoint: call.endpoint?.id,
        delayMs: e.delayMs,
      },
      call,
    );
  };
}
