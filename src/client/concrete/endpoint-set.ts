import { Listeners, type Disposer } from '../../core/events.js';
import type { EndpointInfo } from '../../discovery/resolver.js';
import { RoundRobinBalancer } from './balancers/round-robin.js';
import { defaultPoolFactory, Endpoint, type PoolFactory, type PoolSource } from '../endpoint/endpoint.js';
import type { WireProtocol } from '../endpoint/pool.js';
import { Subset, type PickPolicy } from './subset.js';

/** A subset definition: instances whose labels include all of these (Service.spec.subsets). */
export type SubsetSelector = Readonly<Record<string, string>>;

const DEFAULT_POLICY: PickPolicy = { newBalancer: () => new RoundRobinBalancer(), locality: undefined };

/**
 * The endpoints of one destination. It owns each endpoint (and so its pool and
 * state): an endpoint that discovery removes is closed gracefully, and one that
 * stays keeps its warm connections and history across updates.
 *
 * It also keeps the views balancers pick from: `all` and one per subset.
 * Views are stable objects (a compiled route holds on to them across config
 * versions) whose member lists are rebuilt here when endpoints, their health,
 * the subset definitions or the policy change, never per request.
 */
export class EndpointSet {
  #byId = new Map<string, Endpoint>();
  /** Kept as an array so the balancer reads it without allocating per request. */
  #list: readonly Endpoint[] = [];
  /** Shared by every endpoint of the set: a new protocol reaches each one's next pool. */
  #pools: PoolSource;
  #changed = new Listeners<readonly Endpoint[]>();
  #selectors = new Map<string, SubsetSelector>();
  #views = new Map<string, Subset>();
  #policy: PickPolicy = DEFAULT_POLICY;
  /** Every endpoint (under the Service's tiers), for calls that no route sends to a subset or cluster. */
  readonly all = new Subset(undefined);

  constructor(poolFactory?: PoolFactory) {
    this.#pools = { factory: poolFactory ?? defaultPoolFactory, protocol: 'auto' };
    this.all.refresh([], this.#policy, true);
  }

  get list(): readonly Endpoint[] {
    return this.#list;
  }

  get size(): number {
    return this.#list.length;
  }

  get policy(): PickPolicy {
    return this.#policy;
  }

  get(id: string): Endpoint | undefined {
    return this.#byId.get(id);
  }

  onChange(listener: (list: readonly Endpoint[]) => void): Disposer {
    return this.#changed.on(listener);
  }

  /** The view of a subset; the same object for the life of the set (empty while the subset is not defined). */
  subset(name: string): Subset {
    return this.view(name, undefined);
  }

  /**
   * The view of a subset (undefined: every instance) and/or of one cluster's instances (a route backend's
   * `cluster`; undefined: the Service's tiers); the same object for the life of the set.
   */
  view(subset: string | undefined, cluster: string | undefined): Subset {
    if (cluster === undefined && subset === undefined) return this.all;
    // A NUL cannot occur in a name (a DNS label): the key is unambiguous.
    const key = cluster === undefined ? subset! : `${subset ?? ''}\0${cluster}`;
    let view = this.#views.get(key);
    if (!view) {
      view = new Subset(subset, cluster);
      this.#views.set(key, view);
      this.#refreshView(view, true);
    }
    return view;
  }

  /**
   * New subset definitions and/or balancing policy (a Service resource
   * changed). A new policy gives every view fresh balancers; endpoint state
   * (in-flight counts, latency) is on the endpoints and carries over.
   */
  configure(update: { subsets?: ReadonlyMap<string, SubsetSelector>; policy?: PickPolicy }): void {
    if (update.subsets) this.#selectors = new Map(update.subsets);
    if (update.policy) {
      this.#policy = update.policy;
      const ewma = update.policy.ewma;
      if (ewma) for (const ep of this.#list) ep.latency.settings = ewma;
    }
    this.#refreshAll(update.policy !== undefined);
  }

  /**
   * Set every endpoint's health at once from `healthy(ep)`, rebuilding the
   * views once if anything changed (outlier detection: ejections, returns, panic).
   */
  updateHealth(healthy: (ep: Endpoint) => boolean): void {
    let changed = false;
    for (const ep of this.#list) {
      const h = healthy(ep);
      if (ep.healthy !== h) {
        ep.healthy = h;
        changed = true;
      }
    }
    if (changed) this.#refreshAll(false);
  }

  /** The Service's wire protocol (spec.protocol): each endpoint's calls in flight finish, the next ones go on new pools. */
  setProtocol(protocol: WireProtocol): void {
    if (protocol === this.#pools.protocol) return;
    this.#pools.protocol = protocol;
    for (const ep of this.#list) ep.renewPools();
  }

  /** Replace the set: keep endpoints whose id stays, add new ones, close removed ones. */
  reset(infos: readonly EndpointInfo[]): void {
    const next = new Map<string, Endpoint>();
    for (const info of infos) {
      const existing = this.#byId.get(info.id);
      if (existing) {
        existing.info = info;
        next.set(info.id, existing);
      } else if (!next.has(info.id)) {
        const ep = new Endpoint(info, this.#pools);
        if (this.#policy.ewma) ep.latency.settings = this.#policy.ewma;
        next.set(info.id, ep);
      }
    }
    for (const [id, ep] of this.#byId) if (!next.has(id)) void ep.close();
    this.#byId = next;
    this.#list = [...next.values()];
    this.#refreshAll(false);
    this.#changed.emit(this.#list);
  }

  #refreshAll(newBalancers: boolean): void {
    this.all.refresh(this.#list, this.#policy, newBalancers);
    for (const view of this.#views.values()) this.#refreshView(view, newBalancers);
  }

  #refreshView(view: Subset, newBalancers: boolean): void {
    if (view.name === undefined) return view.refresh(this.#list, this.#policy, newBalancers);
    const selector = this.#selectors.get(view.name);
    view.defined = selector !== undefined;
    const members = selector === undefined ? [] : this.#list.filter((e) => matches(e.info.labels, selector));
    view.refresh(members, this.#policy, newBalancers);
  }

  async close(): Promise<void> {
    const eps = [...this.#byId.values()];
    this.#byId.clear();
    this.#list = [];
    this.#changed.clear();
    this.#refreshAll(false);
    await Promise.all(eps.map((e) => e.close()));
  }
}

function matches(labels: Readonly<Record<string, string>>, selector: SubsetSelector): boolean {
  for (const k in selector) if (labels[k] !== selector[k]) return false;
  return true;
}
