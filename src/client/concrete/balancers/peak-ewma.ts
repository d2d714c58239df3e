import type { Balancer } from '../balancer.js';
import type { Endpoint } from '../../endpoint/endpoint.js';
import { P2cBalancer } from './p2c.js';

/**
 * peak_ewma, the default (Linkerd, Finagle): of two random endpoints, the one
 * with the lower latency estimate x (in-flight + 1). A slow endpoint's cost
 * rises on its first slow answer, so traffic moves away from it within a few
 * requests; see ../../endpoint/latency.ts for the estimate.
 *
 * An endpoint never measured is tried at once (cost 0 while idle, as in
 * Finagle), and costs the default RTT while that first request is in flight
 * (Linkerd): otherwise a new instance, priced at 30 ms against neighbours
 * measured at 1 ms, would get no traffic from a lightly loaded caller until
 * its default decayed (about half a minute), which is what scaling up is not for.
 *
 * Weights scale the in-flight term only: latency x (1 + in-flight / weight).
 * With weight 1 this is Linkerd's cost exactly; an idle endpoint costs its
 * latency whatever its weight (dividing the whole cost by weight, as tower's
 * Weighted does, would make the heavier of two idle endpoints win every
 * comparison), and under load in-flight requests settle in proportion to weight.
 */
export class PeakEwmaBalancer extends P2cBalancer implements Balancer {
  readonly name = 'peak_ewma';
  protected readonly timed = true;

  protected cost(ep: Endpoint, now: number): number {
    if (ep.inflight === 0 && !ep.latency.sampled) return 0;
    return ep.latency.estimate(now) * (1 + ep.inflight / ep.info.weight);
  }
}
