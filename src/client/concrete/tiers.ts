/**
 * The ordered tiers a view's picks go to (Envoy's priority levels): the
 * caller's zone, the other zones of its own cluster, then each failover
 * cluster in the Service's order (issue 17). Built when endpoints, their
 * health or the policy change, never per request.
 *
 * One spill-over rule for every tier (the zones' rule of issue 4): a tier
 * whose healthy share is below minHealthyPercent keeps share/minHealthyPercent
 * of what reaches it and passes the rest to the next tier with a healthy
 * endpoint; a tier with none passes everything; the last tier with a healthy
 * endpoint takes whatever is left. As a tier recovers, its share comes back.
 */
import type { Endpoint } from '../endpoint/endpoint.js';

export interface LocalityPolicy {
  zoneLabel: string;
  /** The caller's own zone (its `zoneLabel` label). */
  callerZone: string;
  minHealthyPercent: number;
}

/** Which clusters a view may use besides the local one, and when. */
export interface ClusterPolicy {
  /**
   * The caller's own cluster name, once known: an instance tagged with it is local, and a route backend
   * naming it selects the local instances. undefined: only untagged instances are local.
   */
  localCluster: string | undefined;
  /**
   * Service.spec.failover: the clusters to spill to, in order (a name equal to localCluster is the local
   * tier already). undefined: no list, so imported instances are used only while no local one is registered.
   */
  failover: readonly string[] | undefined;
  /** Spill threshold of the cluster tiers (Service.spec.locality.minHealthyPercent, whether zones are on or not). */
  minHealthyPercent: number;
}

export const NO_CLUSTERS: ClusterPolicy = { localCluster: undefined, failover: undefined, minHealthyPercent: 70 };

export interface Tier {
  /** The tier's healthy endpoints: what its balancer picks from. */
  readonly endpoints: readonly Endpoint[];
  /** Share of picks that go to this tier (0-1; all tiers' sum is 1). */
  readonly share: number;
  /** Index of the tier's cluster in the order (0: the local cluster): a retry moves to a higher one. */
  readonly cluster: number;
  /** Index of the tier in the full order, empty tiers included (0: the caller's zone, or its cluster without zones). */
  readonly level: number;
}

export interface Tiers {
  /** The tiers with a healthy endpoint, in order. */
  tiers: Tier[];
  /** Every member of every tier, healthy or not: the clusters this view may use at all. */
  eligible: Endpoint[];
  /**
   * An endpoint's cluster position (Tier.cluster: 0 local), read from its cluster rather than from the
   * tiers, which hold healthy endpoints only; -1: a cluster with no later tier to move to.
   */
  rank(ep: Endpoint): number;
}

interface Group {
  members: Endpoint[];
  healthy: Endpoint[];
  cluster: number;
  minHealthyPercent: number;
}

/** True when the endpoint belongs to the caller's own cluster. */
export function isLocal(ep: Endpoint, localCluster: string | undefined): boolean {
  const c = ep.info.cluster;
  return c === undefined || c === localCluster;
}

/**
 * The tiers of `members` under the policies. Tiers without a healthy endpoint are left out; when no
 * member at all is healthy, one tier of every eligible member (try them rather than fail; outlier
 * detection's panic mode refines this), and with no eligible member, no tier.
 */
export function buildTiers(members: readonly Endpoint[], locality: LocalityPolicy | undefined, clusters: ClusterPolicy): Tiers {
  const ranks = new Map<string, number>();
  const groups = clusterGroups(members, locality, clusters, ranks);
  const eligible = groups.flatMap((g) => g.members);
  const rank = (ep: Endpoint): number => (isLocal(ep, clusters.localCluster) ? 0 : (ranks.get(ep.info.cluster!) ?? -1));
  let last = -1;
  for (let i = 0; i < groups.length; i++) if (groups[i]!.healthy.length > 0) last = i;
  if (last < 0) return { tiers: eligible.length === 0 ? [] : [{ endpoints: eligible, share: 1, cluster: 0, level: 0 }], eligible, rank };
  const tiers: Tier[] = [];
  let left = 1;
  for (let i = 0; i <= last; i++) {
    const g = groups[i]!;
    if (g.healthy.length === 0) continue;
    const share = i === last ? left : Math.min(left, healthFactor(g));
    left -= share;
    tiers.push({ endpoints: g.healthy, share, cluster: g.cluster, level: i });
  }
  return { tiers, eligible, rank };
}

/**
 * How much of the traffic the tiers can carry on endpoints `usable` says may take it (Envoy's normalized total
 * health, 0-1): each group's healthFactor, summed. At 1 the spill-over alone keeps every pick on a usable
 * endpoint, so outlier detection has no reason to panic (Envoy disregards the panic threshold then).
 */
export function totalHealth(members: readonly Endpoint[], locality: LocalityPolicy | undefined, clusters: ClusterPolicy, usable: (ep: Endpoint) => boolean): number {
  let sum = 0;
  for (const g of clusterGroups(members, locality, clusters, new Map(), usable)) sum += healthFactor(g);
  return Math.min(1, sum);
}

/** The share of its traffic a tier keeps: 1 at or above minHealthyPercent healthy, proportionally less below. */
function healthFactor(g: Group): number {
  const healthy = g.healthy.length;
  if (g.minHealthyPercent <= 0) return healthy > 0 ? 1 : 0;
  const percent = g.members.length === 0 ? 0 : (100 * healthy) / g.members.length;
  return Math.min(1, percent / g.minHealthyPercent);
}

/**
 * Members split into the ordered groups that become tiers (empty groups kept: they spill everything);
 * `ranks` gets each failover cluster's position; `healthy` says which members count (the views' flag unless told).
 */
function clusterGroups(
  members: readonly Endpoint[],
  locality: LocalityPolicy | undefined,
  clusters: ClusterPolicy,
  ranks: Map<string, number>,
  healthy: (ep: Endpoint) => boolean = (ep) => ep.healthy,
): Group[] {
  const group = (list: Endpoint[], cluster: number, minHealthyPercent: number): Group => ({ members: list, healthy: list.filter(healthy), cluster, minHealthyPercent });
  const local: Endpoint[] = [];
  const imported = new Map<string, Endpoint[]>();
  for (const ep of members) {
    if (isLocal(ep, clusters.localCluster)) local.push(ep);
    else {
      const c = ep.info.cluster!;
      let list = imported.get(c);
      if (list === undefined) imported.set(c, (list = []));
      list.push(ep);
    }
  }
  const groups: Group[] = [];
  const order = clusters.failover;
  if (order === undefined && local.length === 0) {
    // A service that lives only in peers stays callable; zones are the local cluster's, so none apply.
    groups.push(group([...imported.values()].flat(), 0, clusters.minHealthyPercent));
    return groups;
  }
  if (locality === undefined) {
    groups.push(group(local, 0, clusters.minHealthyPercent));
  } else {
    const zone = locality.zoneLabel;
    groups.push(
      group(
        local.filter((e) => e.info.labels[zone] === locality.callerZone),
        0,
        locality.minHealthyPercent,
      ),
      group(
        local.filter((e) => e.info.labels[zone] !== locality.callerZone),
        0,
        locality.minHealthyPercent,
      ),
    );
  }
  let index = 0;
  for (const name of order ?? []) {
    if (name === clusters.localCluster) continue;
    ranks.set(name, ++index);
    groups.push(group(imported.get(name) ?? [], index, clusters.minHealthyPercent));
  }
  return groups;
}
