import type { Balancer } from '../balancer.js';
import type { Endpoint } from '../endpoint.js';
import { P2cBalancer } from './p2c.js';

/**
 * peak_ewma, the default (Linkerd, Finagle): of two random endpoints, the one
 * with the lower latency estimate x (in-flight + 1), per unit of weight. A slow
 * endpoint's cost rises on its first slow answer, so traffic moves away from
 * it within a few requests; see ../latency.ts for the estimate.
 */
export class PeakEwmaBalancer extends P2cBalancer implements Balancer {
  readonly name = 'peak_ewma';
  protected readonly timed = true;

  protected cost(ep: Endpoint, now: number): number {
    return (ep.latency.estimate(now) * (ep.inflight + 1)) / ep.info.weight;
  }
}
