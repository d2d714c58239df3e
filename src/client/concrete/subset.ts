/**
 * A view of a destination's endpoints that a balancer picks from: the whole
 * service, one subset of it (Service.spec.subsets: instances whose labels
 * include the subset's), and/or one cluster's instances (a route backend's
 * `cluster`). The EndpointSet rebuilds views when endpoints, their health,
 * the subsets or the balancing policy change, never per request.
 *
 * Picks go to ordered tiers (tiers.ts): the caller's zone, the other zones of
 * its cluster, then each failover cluster, spilling over in proportion as a
 * tier's healthy share falls below minHealthyPercent (share 50 % with the
 * default 70 % keeps 50/70 = 71 % of requests in the tier), all of it when the
 * tier has no healthy endpoint left, and coming back as the tier recovers.
 * A retry of a call that failed in one cluster goes to the next cluster that
 * has a healthy endpoint (Envoy's previous_priorities retry predicate): the
 * endpoints of a cluster that just died still look healthy until outlier
 * detection or discovery takes them out, and its other endpoints would fail
 * the retry too.
 */
import type { Balancer, PickContext } from './balancer.js';
import type { Endpoint } from '../endpoint/endpoint.js';
import type { EwmaSettings } from '../endpoint/latency.js';
import { buildTiers, isLocal, NO_CLUSTERS, type ClusterPolicy, type LocalityPolicy, type Tier, type Tiers } from './tiers.js';

export type { LocalityPolicy } from './tiers.js';

export interface PickPolicy {
  newBalancer: () => Balancer;
  /** undefined: no zone preference (disabled, or the caller has no zone label). */
  locality: LocalityPolicy | undefined;
  /** Latency estimate settings, given to every endpoint (peak_ewma reads them; they are kept whatever the balancer). */
  ewma?: EwmaSettings;
  /** The caller's cluster and the Service's failover list; absent: no failover list, cluster unknown. */
  clusters?: ClusterPolicy;
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
  /** The subset's name; undefined for a view not limited to one subset. */
  readonly name: string | undefined;
  /** Only this cluster's instances (the caller's own name: its local ones); undefined: the tiers of every allowed cluster. */
  readonly cluster: string | undefined;
  /** False for a named subset the Service does not define (yet): it has no members. */
  defined: boolean;
  /** Every member, healthy or not. */
  members: readonly Endpoint[] = [];
  /** Share of picks that go to the first tier (the caller's zone; 1 without locality and failover). */
  localShare = 1;
  #tiers: readonly Tier[] = [];
  #balancers: Balancer[] = [];
  /** Each tier's upper bound in [0, 1): a pick draws one number and takes the first tier above it. */
  #bounds: number[] = [];
  /** Members the tiers may use (not a peer's the policy leaves out): where a call steps when its tier has no other choice. */
  #eligible: readonly Endpoint[] = [];
  /** The tier that takes every first attempt (share 1), so that no number is drawn; -1: picks are split. */
  #whole = 0;
  #rank: (ep: Endpoint) => number = () => 0;

  constructor(name: string | undefined, cluster?: string) {
    this.name = name;
    this.cluster = cluster;
    this.defined = name === undefined;
  }

  /**
   * An endpoint for this attempt of `call`; `failed`: the endpoints earlier attempts of the call failed on
   * (LogicalState.failedEndpoints), so that a retry leaves the cluster it failed in.
   */
  pick(call: PickContext, failed?: readonly Endpoint[]): Endpoint | undefined {
    const tiers = this.#tiers;
    let t = this.#whole;
    if (tiers.length > 1) {
      const next = failed === undefined ? -1 : this.#nextCluster(failed);
      if (next >= 0) t = next;
      else if (t < 0) t = this.#draw();
    }
    const list = tiers[t]?.endpoints;
    if (list === undefined) return undefined;
    const ep = this.#balancers[t]!.pick(list, call);
    // Two property reads on the common path; the scan runs only when the balancer chose an
    // endpoint outlier detection holds back or that this call's last attempt failed on.
    if (ep === undefined || (ep.available && !call.avoids(ep))) return ep;
    return alternative(list, call) ?? alternative(this.#eligible, call) ?? ep;
  }

  /** A tier by its share: one random number against the tiers' cumulative shares. */
  #draw(): number {
    const r = Math.random();
    const bounds = this.#bounds;
    let t = 0;
    while (t < bounds.length - 1 && r >= bounds[t]!) t++;
    return t;
  }

  /**
   * The tier of the first cluster after every cluster the call failed in; -1: none has a healthy endpoint.
   * By the endpoint's cluster, not by tier membership: the failure that made the call retry may have
   * ejected its endpoint from the tiers meanwhile.
   */
  #nextCluster(failed: readonly Endpoint[]): number {
    let after = -1;
    for (const ep of failed) after = Math.max(after, this.#rank(ep));
    if (after < 0) return -1;
    return this.#tiers.findIndex((tier) => tier.cluster > after);
  }

  /** The tiers picks currently go to, in order, for diagnostics and tests. */
  get tiers(): readonly Tier[] {
    return this.#tiers;
  }

  refresh(members: readonly Endpoint[], policy: PickPolicy, newBalancers: boolean): void {
    const clusters = policy.clusters ?? NO_CLUSTERS;
    if (this.cluster !== undefined) {
      // A route's backend names the cluster: exactly its instances, no failover (zones only at home).
      const home = this.cluster === clusters.localCluster;
      const mine = members.filter((e) => (home ? isLocal(e, clusters.localCluster) : e.info.cluster === this.cluster));
      members = mine;
      this.#setTiers(buildTiers(mine, home ? policy.locality : undefined, { ...clusters, failover: home ? [] : undefined }), policy, newBalancers);
    } else {
      this.#setTiers(buildTiers(members, policy.locality, clusters), policy, newBalancers);
    }
    this.members = members;
  }

  #setTiers({ tiers, eligible, rank }: Tiers, policy: PickPolicy, newBalancers: boolean): void {
    this.#eligible = eligible;
    this.#rank = rank;
    if (newBalancers) this.#balancers = [];
    while (this.#balancers.length < tiers.length) this.#balancers.push(policy.newBalancer());
    this.#tiers = tiers;
    let sum = 0;
    this.#bounds = tiers.map((t) => (sum += t.share));
    this.#whole = tiers.length <= 1 ? 0 : tiers.findIndex((t) => t.share >= 1);
    this.localShare = tiers.length === 0 ? 1 : tiers[0]!.level === 0 ? tiers[0]!.share : 0;
    for (let i = 0; i < tiers.length; i++) this.#balancers[i]!.update?.(tiers[i]!.endpoints);
  }
}
