import type { Endpoint } from '../endpoint/endpoint.js';
import type { RequestHeaders } from '../call/request-headers.js';

/**
 * What a balancer may read of the call it picks for: the request headers (a
 * hash key) and whether an earlier try of the call failed on an endpoint.
 * A narrow view, so balancers (ours and plug-ins) depend on nothing else of
 * the call.
 */
export interface PickContext {
  /** The request headers by lower-case name (parsed on first read). */
  readonly headers: RequestHeaders;
  /** True when an earlier attempt of this call failed on `ep`: pick another while there is a choice. */
  avoids(ep: Endpoint): boolean;
}

/**
 * Picks one endpoint for one attempt. Balancers are per endpoint list and keep
 * their own state (a cursor, a ring); they must not allocate per pick.
 */
export interface Balancer {
  readonly name: string;
  pick(endpoints: readonly Endpoint[], call: PickContext): Endpoint | undefined;
  /** Told when the endpoint list changes, for balancers that precompute (ring hash, weights). */
  update?(endpoints: readonly Endpoint[]): void;
}
