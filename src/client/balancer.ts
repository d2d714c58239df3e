import type { Endpoint } from './endpoint.js';
import type { MeshCall } from './call.js';

/**
 * Picks one endpoint for one attempt. Balancers are per destination and keep
 * their own state (a cursor, a ring); they must not allocate per pick.
 */
export interface Balancer {
  readonly name: string;
  pick(endpoints: readonly Endpoint[], call: MeshCall): Endpoint | undefined;
  /** Told when the endpoint list changes, for balancers that precompute (ring hash, weights). */
  update?(endpoints: readonly Endpoint[]): void;
}
