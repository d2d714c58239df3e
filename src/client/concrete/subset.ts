/**
 * A view of a destination's endpoints that a balancer picks from: the whole
 * service, or one subset of it (Service.spec.subsets: instances whose labels
 * include the subset's). The EndpointSet rebuilds views when endpoints, their
 * health, the subsets or the balancing policy change, never per request.
 *
 * Locality (Envoy's priority levels with an overprovisioning factor): when the
 * caller has a zone, endpoints in that zone are preferred. Traffic spills to
 * the other zones in proportion once the zone's healthy share falls below
 * minHealthyPercent (share 50 % with the default 70 % keeps 50/70 = 71 % of
 * requests local), all of it when the zone has no healthy endpoint left, and
 * comes back as the zone recovers.
 */
import type { Balancer, PickContext } from './balancer.js';
import type { Endpoint } from '../endpoint/endpoint.js';
import type { EwmaSettings } from '../endpoint/latency.js';

export interface LocalityPolicy {
  zoneLabel: string;
  /** The caller's own zone (its `zoneLabel` label). */
  callerZone: string;
  minHealthyPercent: number;
}

export interface PickPolicy {
  newBalancer: () => Balancer;
  /** undefined: no zone preference (disabled, or the caller has no zone label). */
  locality: LocalityPolicy | undefined;
  /** Latency estimate settings, given to every endpoint (peak_ewma reads them; they are kept whatever the balancer). */
  ewma?: EwmaSettings;
}

/** Another endpoint that is available and not avoided by this call, starting at a random place. */
function alternative(list: readonly Endpoint[], call: PickContext): Endpoint | undefined {
  const n = list.length;
  const start = Math.floor(Math.random() * n);
  for (let i = 0; i < n; i++) {
    const ep = list[(start + i) % n]!;
    if (ep.available && !call.avoids(ep)) return ep;
  }
  return undefined;
}

export class Subset {
  /** The subset's name; undefined for the view of every endpoint. */
  readonly name: string | undefined;
  /** False for a named subset the Service does not define (yet): it has no members. */
  defined: boolean;
  /** Every member, healthy or not. */
  members: readonly Endpoint[] = [];
  /** Share of picks that go to the caller's zone (1 without locality). */
  localShare = 1;
  #local: readonly Endpoint[] = [];
  #remote: readonly Endpoint[] = [];
  #localBalancer: Balancer | undefined;
  #remoteBalancer: Balancer | undefined;

  constructor(name: string | undefined) {
    this.name = name;
    this.defined = name === undefined;
  }

  pick(call: PickContext): Endpoint | undefined {
    const share = this.localShare;
    const local = share >= 1 || (share > 0 && Math.random() < share);
    const list = local ? this.#local : this.#remote;
    const ep = (local ? this.#localBalancer : this.#remoteBalancer)?.pick(list, call);
    // Two property reads on the common path; the scan runs only when the balancer chose an
    // endpoint outlier detection holds back or that this call's last attempt failed on.
    if (ep === undefined || (ep.available && !call.avoids(ep))) return ep;
    return alternative(list, call) ?? alternative(this.members, call) ?? ep;
  }

  /** The endpoints picks currently go to (local first), for diagnostics and tests. */
  get active(): { local: readonly Endpoint[]; remote: readonly Endpoint[] } {
    return { local: this.#local, remote: this.#remote };
  }

  refresh(members: readonly Endpoint[], policy: PickPolicy, newBalancers: boolean): void {
    this.members = members;
    if (newBalancers || this.#localBalancer === undefined) {
      this.#localBalancer = policy.newBalancer();
      this.#remoteBalancer = policy.newBalancer();
    }
    const healthy = members.filter((e) => e.healthy);
    const loc = policy.locality;
    let local: readonly Endpoint[];
    let remote: readonly Endpoint[];
    let share: number;
    if (loc === undefined) {
      local = healthy;
      remote = [];
      share = 1;
    } else {
      const inZone = members.filter((e) => e.info.labels[loc.zoneLabel] === loc.callerZone);
      local = inZone.filter((e) => e.healthy);
      remote = healthy.filter((e) => e.info.labels[loc.zoneLabel] !== loc.callerZone);
      const healthyPercent = inZone.length === 0 ? 0 : (100 * local.length) / inZone.length;
      share = loc.minHealthyPercent <= 0 ? (local.length > 0 ? 1 : 0) : Math.min(1, healthyPercent / loc.minHealthyPercent);
      if (remote.length === 0 && local.length > 0) share = 1;
    }
    if (local.length === 0 && remote.length === 0) {
      // Nothing healthy: try every member rather than fail (outlier detection's panic mode refines this).
      local = members;
      share = 1;
    }
    this.#local = local;
    this.#remote = remote;
    this.localShare = share;
    this.#localBalancer!.update?.(local);
    this.#remoteBalancer!.update?.(remote);
  }
}
