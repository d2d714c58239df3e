/**
 * What the logical tier decides for one call and keeps while it runs: the
 * route rule and backend, the deadline, the tries made and where they failed.
 * One object per call, owned by the call (MeshCall.logical) but written only
 * by the logical layers; the concrete and endpoint tiers read `backend` and
 * `avoids()` and nothing else.
 */
import type { RouteCounter } from '../../telemetry/traffic.js';
import type { Endpoint } from '../endpoint/endpoint.js';
import type { RoutePolicy } from './policy.js';
import type { Backend } from './routing/backend.js';

/** A mesh service by its names. */
export interface ServiceName {
  readonly name: string;
  readonly namespace: string;
}

export class LogicalState {
  /** The name of the route rule that matched (for telemetry), undefined when no route applied. */
  route: string | undefined = undefined;
  /** That rule's counter in the edge stats, where telemetry records the call when it ends. */
  routeStats: RouteCounter | undefined = undefined;
  /** The matched rule's own timeouts and retry policy, when it sets them (else the destination's apply). */
  routePolicy: RoutePolicy | undefined = undefined;
  /** The backend (service subset) the rule chose; undefined = the whole destination. */
  backend: Backend | undefined = undefined;
  /** Absolute deadline of the whole call on the mesh clock (performance.now() ms); Infinity when none. */
  deadline = Infinity;
  /** 0 for the first try; each retry adds one. */
  attempt = 0;
  /** Endpoints an attempt of this call failed on: the balancer avoids them while others are available. */
  failedEndpoints: Endpoint[] | undefined = undefined;
  /** Send the next attempts on a new connection (set by retry after a reset: idle connections may be stale). */
  freshConnection = false;

  /**
   * The service the call goes to: the backend's, once a rule chose one, else `called` (the destination the
   * call was made to, which for a gateway's call is only its carrier). What messages and events name.
   */
  goesTo(called: ServiceName): ServiceName {
    return this.backend?.destination ?? called;
  }

  /** An attempt failed on `ep`: later attempts of this call avoid it while they have a choice. */
  markFailed(ep: Endpoint): void {
    const list = (this.failedEndpoints ??= []);
    if (!list.includes(ep)) list.push(ep);
  }

  /** True when an earlier attempt of this call failed on `ep`. */
  avoids(ep: Endpoint): boolean {
    return this.failedEndpoints !== undefined && this.failedEndpoints.includes(ep);
  }
}
