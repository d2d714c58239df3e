/**
 * Outlier reporting (endpoint tier, below the balancer): tells each endpoint's
 * health record what every attempt sent to it says, using the shared
 * classifier, and claims the single trial request of an endpoint coming back
 * from an ejection. The balancer skips endpoints whose `available` is false.
 *
 * What counts:
 * - a response: failure when the classifier says it is not a success (5xx by
 *   default), success otherwise; a refusal by the peer's mesh layer
 *   (`x-hyphae-rejected`: shed, deadline) says nothing — the endpoint is alive
 *   and answering fast, and ejecting an overloaded endpoint only moves its load;
 * - an error: failure for connect errors (a TLS handshake or peer identity
 *   that fails counts: that endpoint cannot be used), resets, per-try timeouts
 *   and other transport failures; nothing for the call's own abort (the
 *   application, its deadline, the inbound request gone), for what this
 *   process refused itself (no certificate of its own, a limit), or for
 *   errors in the request itself (invalid arguments, length mismatch).
 *
 * The detector is the one of the service the endpoint belongs to (a route may
 * send to another service's subset): `source` finds it per call, since a
 * destination rebuilds its detector when its outlierDetection config changes.
 */
import { classifyStatus, type ClassifierPolicy, defaultClassifierPolicy } from '../../core/classifier.js';
import { ErrorCode, MeshError, type ErrorCodeValue } from '../../core/errors.js';
import type { Filter } from '../../core/filter.js';
import type { EndpointHealth, HealthOutcome, OutlierDetector } from '../../resilience/outlier-detector.js';
import { REFUSED_HEADER } from '../../resilience/refusal.js';
import type { Attempt } from '../attempt.js';
import type { MeshCall } from '../call.js';

/** Mesh errors that say something about the endpoint (the others are this process's own refusals). */
const ENDPOINT_FAULTS: ReadonlySet<ErrorCodeValue> = new Set<ErrorCodeValue>([
  ErrorCode.CONNECT_FAILED,
  ErrorCode.TLS_HANDSHAKE_FAILED,
  ErrorCode.PEER_IDENTITY_MISMATCH,
  ErrorCode.UPSTREAM_RESET,
  ErrorCode.UPSTREAM_ERROR,
  ErrorCode.TRY_TIMEOUT,
]);

/** undici errors that say the request was wrong, not the endpoint. */
const CALLER_FAULTS = new Set(['UND_ERR_INVALID_ARG', 'UND_ERR_REQ_CONTENT_LENGTH_MISMATCH', 'UND_ERR_NOT_SUPPORTED', 'UND_ERR_ABORTED', 'ABORT_ERR']);

/** The detector, or where to find the one that judges a call's endpoint; undefined: outlier detection is off there. */
export type DetectorSource = OutlierDetector | ((call: MeshCall) => OutlierDetector | undefined);

export function outlierDetection(source: DetectorSource, classifier: ClassifierPolicy = defaultClassifierPolicy): Filter<MeshCall, Attempt> {
  const detectorOf = typeof source === 'function' ? source : () => source;
  const onAttempt = (attempt: Attempt): Attempt => {
    const h = attempt.endpoint.health;
    if (h !== undefined) report(attempt.call, h, responseOutcome(attempt, classifier));
    return attempt;
  };
  return (next) => (call) => {
    const ep = call.endpoint!;
    let health = ep.health;
    if (health === undefined && !ep.closed) {
      const detector = detectorOf(call);
      if (detector !== undefined) health = ep.health = detector.track(ep.id);
    }
    if (health === undefined) return next(call);
    health.onSend();
    const h = health;
    return next(call).then(onAttempt, (err: unknown) => {
      report(call, h, errorOutcome(call, err));
      throw err;
    });
  };
}

/**
 * Report an outcome; when it ejects the endpoint and the call's span records,
 * say so on the span (the metric counts ejections through the detector's
 * hook, which knows nothing of calls).
 */
function report(call: MeshCall, h: EndpointHealth, outcome: HealthOutcome): void {
  const rec = call.telemetry;
  if (outcome !== 'failure' || rec === undefined || !rec.recording) return h.report(outcome);
  const before = h.state;
  h.report(outcome);
  if (before !== 'ejected' && h.state === 'ejected') rec.endpointEjected(h.label, before === 'trial' ? 'failed-trial' : 'consecutive-failures');
}

export function responseOutcome(attempt: Attempt, classifier: ClassifierPolicy = defaultClassifierPolicy): HealthOutcome {
  const status = attempt.statusCode;
  if (classifyStatus(status, classifier) === 'success') return 'success';
  if ((status === 503 || status === 504) && attempt.header(REFUSED_HEADER) !== undefined) return 'neutral';
  return 'failure';
}

export function errorOutcome(call: MeshCall, err: unknown): HealthOutcome {
  if (call.abortReason !== undefined) return 'neutral';
  if (err instanceof MeshError) return ENDPOINT_FAULTS.has(err.code) ? 'failure' : 'neutral';
  const code = (err as { code?: unknown } | null)?.code;
  if (typeof code === 'string' && CALLER_FAULTS.has(code)) return 'neutral';
  return 'failure';
}
