import type { Balancer } from '../balancer.js';
import type { Endpoint } from '../../endpoint/endpoint.js';
import { P2cBalancer } from './p2c.js';

/**
 * least_request: of two random endpoints, the one with fewer requests in
 * flight per unit of weight. Idle endpoints tie at 0 and the first draw (made
 * in proportion to weight) wins, so weights hold when idle and under load.
 */
export class LeastRequestBalancer extends P2cBalancer implements Balancer {
  readonly name = 'least_request';
  protected readonly timed = false;

  protected cost(ep: Endpoint): number {
    return ep.inflight / ep.info.weight;
  }
}
