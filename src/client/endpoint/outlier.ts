/**
 * Outlier reporting (endpoint tier, below the balancer): tells each endpoint's
 * health record what every attempt sent to it says, and claims the single
 * trial request of an endpoint coming back from an ejection. The balancer
 * skips endpoints whose `available` is false.
 *
 * What counts is the attempt's verdict (core/classifier.ts), read, never made
 * here: `endpoint: 'at-fault'` is a failure (5xx, connect errors — a TLS
 * handshake or peer identity that fails counts —, resets, per-try timeouts,
 * other transport failures), 'healthy' a success, and 'neutral' nothing: a
 * refusal by the peer's mesh (`x-hyphae-rejected`), the call's own abort, what
 * this process refused itself, errors in the request itself.
 *
 * The detector is the one of the service the endpoint belongs to (a route may
 * send to another service's subset): `source` finds it per call, since a
 * destination rebuilds its detector when its outlierDetection config changes.
 */
import { errorVerdict, type Verdict } from '../../core/classifier.js';
import type { Filter } from '../../core/filter.js';
import type { EndpointHealth, HealthOutcome, OutlierDetector } from '../../resilience/outlier-detector.js';
import type { Attempt } from './attempt.js';
import type { MeshCall } from '../call/mesh-call.js';

/** The detector, or where to find the one that judges a call's endpoint; undefined: outlier detection is off there. */
export type DetectorSource = OutlierDetector | ((call: MeshCall) => OutlierDetector | undefined);

export function outlierDetection(source: DetectorSource): Filter<MeshCall, Attempt> {
  const detectorOf = typeof source === 'function' ? source : () => source;
  const onAttempt = (attempt: Attempt): Attempt => {
    const h = attempt.endpoint.health;
    if (h !== undefined) report(attempt.call, h, healthOutcome(attempt.verdict));
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
      // The verdict the attempt made as it failed; a call stopped meanwhile (its abort) holds nothing against the endpoint.
      report(call, h, healthOutcome(errorVerdict(err, call.abortReason !== undefined)));
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

/** What the verdict says of the endpoint, in the detector's words. */
export function healthOutcome(v: Verdict): HealthOutcome {
  return v.endpoint === 'healthy' ? 'success' : v.endpoint === 'at-fault' ? 'failure' : 'neutral';
}
