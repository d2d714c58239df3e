/**
 * Compact traffic stats per edge, for the control plane's live views: counts,
 * errors and a log-bucket latency histogram, reset at each report, per route
 * rule of the edge. Recording is a few array increments on an accumulator
 * resolved before the call: the edge when its stack was built, the rule's
 * counter when the routes were compiled (the route layer leaves it on the
 * call), so it costs nothing measurable per call.
 */
import { LatencyHistogram, type SparseBuckets } from '../core/latency-histogram.js';
import { DEFAULT_ROUTE, MAX_ROUTES_PER_EDGE, OTHER_ROUTES } from '../core/route-keys.js';

export interface TrafficSnapshot {
  requests: number;
  errors: number;
  /** [bucket, count] pairs of the shared log-bucket scheme (core/latency-histogram). */
  latency: SparseBuckets;
  latencySumMs: number;
}

export class TrafficCounter {
  requests = 0;
  errors = 0;
  /** Calls under way now (the active-requests gauge reads it). */
  inflight = 0;
  readonly latency = new LatencyHistogram();

  record(ms: number, failed: boolean): void {
    this.requests++;
    if (failed) this.errors++;
    this.latency.record(ms);
  }

  /** What happened since the last call, then start counting afresh. */
  take(): TrafficSnapshot {
    const snap: TrafficSnapshot = {
      requests: this.requests,
      errors: this.errors,
      latency: this.latency.toSparse(),
      latencySumMs: Math.round(this.latency.sum * 1000) / 1000,
    };
    this.requests = 0;
    this.errors = 0;
    this.latency.reset();
    return snap;
  }
}

/** The calls of one edge that went through one route rule (or `[default]`, `[other]`). */
export class RouteCounter extends TrafficCounter {
  /** `namespace/name` of the Route, or DEFAULT_ROUTE / OTHER_ROUTES. */
  readonly route: string;
  /** The rule's name; undefined for DEFAULT_ROUTE and OTHER_ROUTES. */
  readonly rule: string | undefined;

  constructor(route: string, rule: string | undefined) {
    super();
    this.route = route;
    this.rule = rule;
  }
}

export interface RouteSnapshot extends TrafficSnapshot {
  route: string;
  rule?: string;
}

/** A compiled route rule as the edge stats see it: which rule it is, and where its calls are counted. */
export interface RouteStatsSlot {
  /** `namespace/name` of its Route. */
  readonly route: string;
  readonly name: string;
  stats: RouteCounter | undefined;
}

/**
 * One destination's calls, kept per route rule: the edge's own figures are
 * the sum of its rules' (made at each report), so a call is recorded once.
 */
export class EdgeCounter {
  /** Calls under way now (the active-requests gauge reads it). */
  inflight = 0;
  /** Calls no route rule steered. */
  readonly unrouted = new RouteCounter(DEFAULT_ROUTE, undefined);
  /** The rules of the routes in force, by `route rule`. */
  #rules = new Map<string, RouteCounter>();
  /** Rules past MAX_ROUTES_PER_EDGE, together. */
  #other: RouteCounter | undefined;
  /**
   * Counters of rules no longer in force: a call that chose one before the change may still end on it,
   * so each is reported until a report finds it idle.
   */
  #retired: RouteCounter[] = [];
  /** Merges the rules' histograms at each report (reused). */
  readonly #sum = new LatencyHistogram();

  /** `rule`: the counter the route layer left on the call (undefined: no rule steered it). */
  record(ms: number, failed: boolean, rule: RouteCounter | undefined): void {
    (rule ?? this.unrouted).record(ms, failed);
  }

  /**
   * The destination compiled its routes: give each rule its counter (the same one as before for a rule
   * that stays), up to MAX_ROUTES_PER_EDGE of them, the rest `[other]`. Not on the request path.
   */
  useRoutes(rules: Iterable<RouteStatsSlot>): void {
    const next = new Map<string, RouteCounter>();
    const late: RouteStatsSlot[] = [];
    for (const slot of rules) {
      const key = `${slot.route} ${slot.name}`;
      const kept = next.get(key) ?? this.#rules.get(key) ?? this.#revive(key);
      if (kept) {
        next.set(key, kept);
        slot.stats = kept;
      } else late.push(slot);
    }
    // New rules after every rule that keeps its counter, so a change never pushes a counted rule out.
    for (const slot of late) {
      const key = `${slot.route} ${slot.name}`;
      let c = next.get(key);
      if (!c && next.size < MAX_ROUTES_PER_EDGE) next.set(key, (c = new RouteCounter(slot.route, slot.name)));
      slot.stats = c ?? (this.#other ??= new RouteCounter(OTHER_ROUTES, undefined));
    }
    for (const [key, c] of this.#rules) if (!next.has(key)) this.#retired.push(c);
    this.#rules = next;
  }

  #revive(key: string): RouteCounter | undefined {
    const i = this.#retired.findIndex((c) => `${c.route} ${c.rule}` === key);
    return i < 0 ? undefined : this.#retired.splice(i, 1)[0];
  }

  /** Calls since the last take, in all and per route rule; undefined when there were none. */
  take(): (TrafficSnapshot & { routes: RouteSnapshot[] }) | undefined {
    const routes: RouteSnapshot[] = [];
    const sum = this.#sum;
    let requests = 0;
    let errors = 0;
    const add = (c: RouteCounter) => {
      if (c.requests === 0) return;
      requests += c.requests;
      errors += c.errors;
      sum.add(c.latency);
      const snap = c.take();
      routes.push(c.rule === undefined ? { route: c.route, ...snap } : { route: c.route, rule: c.rule, ...snap });
    };
    add(this.unrouted);
    for (const c of this.#rules.values()) add(c);
    if (this.#other) add(this.#other);
    this.#retired = this.#retired.filter((c) => {
      const busy = c.requests > 0;
      add(c);
      return busy;
    });
    if (requests === 0) return undefined;
    const snap = { requests, errors, latency: sum.toSparse(), latencySumMs: Math.round(sum.sum * 1000) / 1000, routes };
    sum.reset();
    return snap;
  }
}

/** What an edge's calls were addressed to: a Service (the default), or the Gateway whose routes steered them. */
export type EdgeKind = 'Service' | 'Gateway';

export interface EdgeSnapshot extends TrafficSnapshot {
  destination: string;
  namespace: string;
  /** Present for a Gateway: `destination` is then the Gateway's name (config/stats.ts). */
  kind?: 'Gateway';
  /** The same calls per route rule: their counts add up to the edge's. */
  routes: RouteSnapshot[];
}

export class EdgeTraffic {
  #edges = new Map<string, { namespace: string; name: string; kind: EdgeKind; counter: EdgeCounter }>();
  /** Requests this process served (every wrapped server together). */
  readonly inbound = new TrafficCounter();

  /**
   * The counter of one destination; the client stack resolves it once, when it is built. `kind: 'Gateway'`:
   * the calls a gateway's routes steer, counted per rule with the Gateway as their parent, as a Service's
   * routes are counted under that Service (a gateway's call has no destination of its own to count it under).
   */
  edge(namespace: string, name: string, kind: EdgeKind = 'Service'): EdgeCounter {
    const key = kind === 'Service' ? `${namespace}/${name}` : `${kind}/${namespace}/${name}`;
    let e = this.#edges.get(key);
    if (!e) this.#edges.set(key, (e = { namespace, name, kind, counter: new EdgeCounter() }));
    return e.counter;
  }

  /** Every edge: for the active-requests gauge. */
  *counters(): Iterable<{ namespace: string; name: string; kind: EdgeKind; counter: EdgeCounter }> {
    yield* this.#edges.values();
  }

  /** Edges with traffic since the last take (an idle edge is not reported). */
  take(): { edges: EdgeSnapshot[]; inbound: TrafficSnapshot } {
    const edges: EdgeSnapshot[] = [];
    for (const { namespace, name, kind, counter } of this.#edges.values()) {
      const snap = counter.take();
      if (snap) edges.push(kind === 'Service' ? { destination: name, namespace, ...snap } : { destination: name, namespace, kind, ...snap });
    }
    return { edges, inbound: this.inbound.take() };
  }
}
