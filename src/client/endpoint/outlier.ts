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
import { OutlierDetector, type EndpointHealth, type HealthOutcome } from '../../resilience/outlier-detector.js';
import type { OutlierJudge } from '../concrete/backend-service.js';
import type { Attempt } from './attempt.js';
import type { Endpoint } from './endpoint.js';
import type { MeshCall } from '../call/mesh-call.js';

/**
 * Who judges a call's endpoint: a service's OutlierJudge (the stack's: it tells the mesh's sink of ejections,
 * with the call), a bare detector (unit tests), or where to find either per call; undefined: off there.
 */
export type DetectorSource = OutlierJudge | OutlierDetector | ((call: MeshCall) => OutlierJudge | OutlierDetector | undefined);

export function outlierDetection(source: DetectorSource): Filter<MeshCall, Attempt> {
  const detectorOf = typeof source === 'function' ? source : () => source;
  return (next) => (call) => {
    const ep = call.endpoint!;
    const health = ep.health ?? (ep.closed ? undefined : healthOf(ep, detectorOf(call)));
    if (health === undefined) return next(call);
    health.onSend();
    const h = health;
    return next(call).then(
      (attempt) => {
        report(detectorOf, call, h, healthOutcome(attempt.verdict));
        return attempt;
      },
      (err: unknown) => {
        // The verdict the attempt made as it failed; a call stopped meanwhile (its abort) holds nothing against the endpoint.
        let outcome = healthOutcome(errorVerdict(err, call.abortReason !== undefined));
        // One connection's failure fails every call on it with the same error object: an HTTP/2 session's
        // streams (a hundred calls), or the requests queued on an HTTP/1.1 socket. It is one failure of the
        // endpoint, counted once, not once per call it carried.
        if (outcome === 'failure' && typeof err === 'object' && err !== null) {
          if (ep.lastFailure === err) outcome = 'neutral';
          else ep.lastFailure = err;
        }
        report(detectorOf, call, h, outcome);
        throw err;
      },
    );
  };
}

/**
 * Report an outcome. Only a failure can eject: it goes through the judge of the endpoint's own service (a
 * route may send to another service's subset), which tells the mesh's sink of the ejection with the call;
 * anything else goes straight to the health record, so the common answer asks nothing more.
 */
function report(judgeOf: (call: MeshCall) => OutlierJudge | OutlierDetector | undefined, call: MeshCall, h: EndpointHealth, outcome: HealthOutcome): void {
  if (outcome !== 'failure') return h.report(outcome);
  const judge = judgeOf(call);
  if (judge === undefined || judge instanceof OutlierDetector) h.report(outcome);
  else judge.report(call, h, outcome);
}

/**
 * The endpoint's health record, attached on its first judged call under `judge` (undefined: outlier
 * detection is off there). Shared with gRPC's balancer (src/grpc/balancer.ts): one record per endpoint
 * whichever protocol its calls take.
 */
export function healthOf(ep: Endpoint, judge: OutlierJudge | OutlierDetector | undefined): EndpointHealth | undefined {
  if (ep.health === undefined && !ep.closed && judge !== undefined) ep.health = judge.track(ep.id);
  return ep.health;
}

/** What the verdict says of the endpoint, in the detector's words. */
export function healthOutcome(v: Verdict): HealthOutcome {
  return v.endpoint === 'healthy' ? 'success' : v.endpoint === 'at-fault' ? 'failure' : 'neutral';
}
