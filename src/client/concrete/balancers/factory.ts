import type { LoadBalancerName } from '../../../config/resources.js';
import type { Balancer } from '../balancer.js';
import { LeastRequestBalancer } from './least-request.js';
import { PeakEwmaBalancer } from './peak-ewma.js';
import { RingHashBalancer, type RingHashOptions } from './ring-hash.js';
import { RoundRobinBalancer } from './round-robin.js';

export interface BalancerSettings {
  loadBalancer: LoadBalancerName;
  ringHash: RingHashOptions;
}

/**
 * A factory of balancers of one kind: every endpoint list (each subset, and
 * each locality within it) gets its own instance, because balancers keep
 * state about the list they pick from (a cursor, a ring).
 */
export function balancerFactory(settings: BalancerSettings): () => Balancer {
  switch (settings.loadBalancer) {
    case 'round_robin':
      return () => new RoundRobinBalancer();
    case 'least_request':
      return () => new LeastRequestBalancer();
    case 'peak_ewma':
      return () => new PeakEwmaBalancer();
    case 'ring_hash': {
      // Without a key (no ringHash in the Service) every request lands on a random point.
      const options = settings.ringHash;
      return () => new RingHashBalancer(options);
    }
  }
}
