/**
 * The last minute of traffic stats, as mesh processes report it (POST
 * /v1/stats). Kept per reporter (one per process) and merged on read: per
 * edge (source service -> destination service), per serving instance, and
 * per service. Times are the control plane's own clock at receipt; no
 * reporter's clock is trusted.
 *
 * Bounded whatever reporters send, since any join-token holder may post (and
 * anyone, on an insecure control plane), with ids of its choosing: a report
 * arriving sooner than `minGapMs` after its reporter's last one is merged
 * into it (a mesh reports every 250 ms at the most, and once more as it
 * closes), so one reporter keeps at most retention / minGapMs of them; and
 * what is held (an entry per edge and per route row, and one per report) is counted, per
 * reporter and in all, against fixed budgets.
 * A report over a budget, or from a new reporter when there are `maxReporters`
 * already, is dropped and counted (`dropped`, and `onDrop` for a log line).
 */
import type { SparseBuckets } from '../../core/latency-histogram.js';
import { MAX_STATS_WINDOW_SECONDS, type StatsReport } from '../../config/stats.js';
import { LatencyArena, type ArenaHistogram } from './latency-arena.js';
import { drain, type Sliced } from './sliced.js';

/** As long as the largest window. */
export const STATS_RETENTION_MS = MAX_STATS_WINDOW_SECONDS * 1000;

/** Edge entries read between two yields of a sliced read (well under a millisecond's work). */
const SLICE_ENTRIES = 1024;
/**
 * How often a report's arrival also forgets expired reports: pruning walks every reporter (up to
 * `maxReporters`), too much for each of thousands of reports a second; a report kept 1 s past the
 * retention is harmless (reads look at their window only).
 */
const PRUNE_EVERY_MS = 1_000;

/** An edge as kept: the destination's key made once, at receipt, not on every summary. */
interface StoredEdge {
  /** `namespace/name` */
  destination: string;
  requests: number;
  errors: number;
  latency: SparseBuckets;
  routes: StoredRoute[];
}

/** A route row of an edge: its key (`route rule`) made once, at receipt. */
interface StoredRoute {
  key: string;
  route: string;
  rule: string | undefined;
  requests: number;
  errors: number;
  latency: SparseBuckets;
}

interface Received {
  at: number;
  intervalMs: number;
  edges: StoredEdge[];
  /** One per report merged into this entry (usually one). */
  inbound: NonNullable<StatsReport['inbound']>[];
  /** Entries it counts against the budgets: its edges and their route rows, and one per report merged into it. */
  cost: number;
}

export interface ReporterState {
  id: string;
  service: string | undefined;
  namespace: string;
  instances: string[];
  lastAt: number;
  /** Longest interval seen: how long silence may last before the reporter counts as gone. */
  intervalMs: number;
  reports: Received[];
  /** Entries held in `reports` (edges, route rows, and one per report), against the per-reporter budget. */
  entries: number;
  endpoints: StatsReport['endpoints'];
  certificate: StatsReport['certificate'];
  configErrors: StatsReport['configErrors'];
}

export interface Traffic {
  requests: number;
  errors: number;
  /** Requests per second over the window. */
  rps: number;
  latency: ArenaHistogram;
}

export interface EdgeTraffic extends Traffic {
  /** `namespace/name` of the calling service; undefined for a process without a service name. */
  source: string | undefined;
  /** `namespace/name` */
  destination: string;
}

/** One route rule's calls to a destination, from every caller together. */
export interface RouteTraffic extends Traffic {
  /** `namespace/name` of the destination. */
  destination: string;
  /** `namespace/name` of the Route, `[default]` or `[other]`. */
  route: string;
  rule: string | undefined;
}

export type StatsDropReason = 'reporter-full' | 'store-full';

export interface StatsStoreOptions {
  retentionMs?: number;
  now?: () => number;
  /** Reports of one reporter closer together than this share one entry. Default 100 ms. */
  minGapMs?: number;
  /**
   * Entries (an edge, or a report) one reporter may hold over the retention. Default 20 000: a mesh
   * calling 100 services and reporting every 2 s holds about 3 000.
   */
  maxEntriesPerReporter?: number;
  /** Entries held in all. Default 500 000. */
  maxEntries?: number;
  /** Reporters held at once. Default 10 000. */
  maxReporters?: number;
  /** Told of every dropped report. */
  onDrop?: (reason: StatsDropReason, report: StatsReport) => void;
}

export class StatsStore {
  #reporters = new Map<string, ReporterState>();
  #retentionMs: number;
  #now: () => number;
  #minGapMs: number;
  #maxEntriesPerReporter: number;
  #maxEntries: number;
  #maxReporters: number;
  #onDrop: ((reason: StatsDropReason, report: StatsReport) => void) | undefined;
  #entries = 0;
  #version = 0;
  #prunedAt = -Infinity;
  /** Reports dropped since creation, by reason. */
  readonly dropped: Record<StatsDropReason, number> = { 'reporter-full': 0, 'store-full': 0 };

  constructor(options: StatsStoreOptions = {}) {
    this.#retentionMs = options.retentionMs ?? STATS_RETENTION_MS;
    this.#now = options.now ?? Date.now;
    this.#minGapMs = options.minGapMs ?? 100;
    this.#maxEntriesPerReporter = options.maxEntriesPerReporter ?? 20_000;
    this.#maxEntries = options.maxEntries ?? 500_000;
    this.#maxReporters = options.maxReporters ?? 10_000;
    this.#onDrop = options.onDrop;
  }

  /** Entries held in all (what the `maxEntries` budget counts). */
  get entries(): number {
    return this.#entries;
  }

  /** Grows with every report kept: a summary built at the same version (and time) is still right. */
  get version(): number {
    return this.#version;
  }

  /** Keep a report; false when it was dropped (over a budget). */
  add(report: StatsReport): boolean {
    const now = this.#now();
    if (now - this.#prunedAt >= PRUNE_EVERY_MS) this.prune(now);
    let r = this.#reporters.get(report.reporter);
    let cost = report.edges.length + 1;
    for (const e of report.edges) cost += e.routes.length;
    const full: StatsDropReason | undefined =
      r === undefined && this.#reporters.size >= this.#maxReporters
        ? 'store-full'
        : (r?.entries ?? 0) + cost > this.#maxEntriesPerReporter
          ? 'reporter-full'
          : this.#entries + cost > this.#maxEntries
            ? 'store-full'
            : undefined;
    if (full !== undefined) {
      this.dropped[full]++;
      this.#onDrop?.(full, report);
      return false;
    }
    if (!r) {
      r = {
        id: report.reporter,
        service: report.service,
        namespace: report.namespace,
        instances: [],
        lastAt: now,
        intervalMs: 0,
        reports: [],
        entries: 0,
        endpoints: [],
        certificate: undefined,
        configErrors: [],
      };
      this.#reporters.set(report.reporter, r);
    }
    r.service = report.service;
    r.namespace = report.namespace;
    r.instances = report.instances;
    r.lastAt = now;
    r.intervalMs = Math.max(report.intervalMs, Math.min(r.intervalMs, 60_000));
    r.endpoints = report.endpoints;
    r.certificate = report.certificate;
    r.configErrors = report.configErrors;
    r.entries += cost;
    this.#entries += cost;
    this.#version++;
    const edges = report.edges.map((e): StoredEdge => ({
      // A Gateway keeps its kind, as the summary's route parents name it (`Gateway/ns/name`): its routes' rows line up with them.
      destination: `${e.kind === 'Gateway' ? 'Gateway/' : ''}${e.namespace}/${e.destination}`,
      requests: e.requests,
      errors: e.errors,
      latency: e.latency,
      routes: e.routes.map((r) => ({ key: `${r.route} ${r.rule ?? ''}`, route: r.route, rule: r.rule, requests: r.requests, errors: r.errors, latency: r.latency })),
    }));
    const intervalMs = Math.min(report.intervalMs, this.#retentionMs);
    const last = r.reports.at(-1);
    if (last !== undefined && now - last.at < this.#minGapMs) {
      // Counts add up, so the traffic of a report merged here is not lost (a mesh's last report as it closes).
      for (const e of edges) last.edges.push(e);
      if (report.inbound) last.inbound.push(report.inbound);
      last.intervalMs = Math.min(last.intervalMs + intervalMs, this.#retentionMs);
      last.cost += cost;
    } else {
      r.reports.push({ at: now, intervalMs, edges, inbound: report.inbound ? [report.inbound] : [], cost });
    }
    return true;
  }

  /** Forget reports older than the retention, and reporters with nothing left. */
  prune(now = this.#now()): void {
    this.#prunedAt = now;
    const cutoff = now - this.#retentionMs;
    for (const [id, r] of this.#reporters) {
      let drop = 0;
      let cost = 0;
      while (drop < r.reports.length && r.reports[drop]!.at < cutoff) cost += r.reports[drop++]!.cost;
      if (drop > 0) {
        r.reports.splice(0, drop);
        r.entries -= cost;
        this.#entries -= cost;
      }
      if (r.reports.length === 0 && r.lastAt < cutoff) this.#reporters.delete(id);
    }
  }

  get size(): number {
    return this.#reporters.size;
  }

  reporters(): ReporterState[] {
    this.prune();
    return [...this.#reporters.values()];
  }

  /** Whether a reporter still reports: heard from within three of its intervals (and at least 5 s). */
  live(r: ReporterState, now = this.#now()): boolean {
    return now - r.lastAt <= Math.max(5_000, 3 * r.intervalMs);
  }

  /** Outgoing traffic over the last `windowMs`, per (source service, destination service). */
  edges(windowMs: number, arena = new LatencyArena()): EdgeTraffic[] {
    return drain(this.edgesInSlices(windowMs, arena));
  }

  /** Calls per route rule of each destination over the last `windowMs`, every caller together. */
  routes(windowMs: number, arena = new LatencyArena()): RouteTraffic[] {
    const routes: RouteTraffic[] = [];
    drain(this.edgesInSlices(windowMs, arena, routes));
    return routes;
  }

  /**
   * The same, yielding every thousand entries (see ./sliced.ts): it reads
   * every edge entry in the window, up to `maxEntries`, so no key string is
   * built and nothing is allocated per entry. The reports in the window are
   * taken at the start: reports that arrive or expire meanwhile do not move
   * what it reads. Given `routes`, it also fills it with the traffic per
   * route rule of each destination (callers together), in the same pass.
   */
  *edgesInSlices(windowMs: number, arena: LatencyArena, routes?: RouteTraffic[]): Sliced<EdgeTraffic[]> {
    const now = this.#now();
    const taken: { source: string | undefined; reports: Received[]; seconds: number }[] = [];
    for (const r of this.reporters()) {
      const w = this.#inWindow(r, windowMs, now);
      if (w !== undefined) taken.push({ source: r.service === undefined ? undefined : `${r.namespace}/${r.service}`, reports: r.reports.slice(w.first), seconds: w.seconds });
    }
    const out: EdgeTraffic[] = [];
    const bySource = new Map<string | undefined, Map<string, EdgeTraffic>>();
    const byRoute = new Map<string, Map<string, RouteTraffic>>();
    let n = 0;
    let nextYield = SLICE_ENTRIES;
    for (const { source, reports, seconds } of taken) {
      let byDestination = bySource.get(source);
      if (!byDestination) bySource.set(source, (byDestination = new Map()));
      for (const rep of reports) {
        for (const e of rep.edges) {
          let t = byDestination.get(e.destination);
          if (!t) {
            byDestination.set(e.destination, (t = { source, destination: e.destination, requests: 0, errors: 0, rps: 0, latency: arena.histogram() }));
            out.push(t);
          }
          t.requests += e.requests;
          t.errors += e.errors;
          t.rps += e.requests / seconds;
          t.latency.addSparse(e.latency);
          if (routes !== undefined && e.routes.length > 0) {
            let rules = byRoute.get(e.destination);
            if (!rules) byRoute.set(e.destination, (rules = new Map()));
            for (const r of e.routes) {
              let rt = rules.get(r.key);
              if (!rt) {
                rules.set(r.key, (rt = { destination: e.destination, route: r.route, rule: r.rule, requests: 0, errors: 0, rps: 0, latency: arena.histogram() }));
                routes.push(rt);
              }
              rt.requests += r.requests;
              rt.errors += r.errors;
              rt.rps += r.requests / seconds;
              rt.latency.addSparse(r.latency);
            }
            n += e.routes.length;
          }
          if (++n >= nextYield) {
            nextYield = n + SLICE_ENTRIES;
            yield;
          }
        }
      }
    }
    return out;
  }

  /** Served traffic over the last `windowMs`, per reporter (the process's servers together). */
  inbound(r: ReporterState, windowMs: number, arena = new LatencyArena()): Traffic {
    const t: Traffic = { requests: 0, errors: 0, rps: 0, latency: arena.histogram() };
    const w = this.#inWindow(r, windowMs, this.#now());
    if (w === undefined) return t;
    addInbound(t, r, w.first);
    t.rps = t.requests / w.seconds;
    return t;
  }

  /**
   * Served traffic over the last `windowMs` per service (`namespace/name`):
   * the requests of every process of it with reports in the window, gone
   * ones included, over the time from the first of those reports to the
   * last (to now once every process has gone quiet, so the rate falls
   * away). Adding up each live process's own rate instead left out what the
   * instances a rolling restart replaced served, and showed the service a
   * fraction of what its callers sent it until the new ones had filled the
   * window. One process counts once however many instances (ports) it
   * serves. Yields per process.
   */
  *servedInSlices(windowMs: number, arena: LatencyArena): Sliced<Map<string, Traffic>> {
    const now = this.#now();
    const served = new Map<string, { t: Traffic; start: number; end: number; cap: number }>();
    for (const r of this.reporters()) {
      if (r.service === undefined) continue;
      const w = this.#inWindow(r, windowMs, now);
      if (w === undefined) continue;
      const key = `${r.namespace}/${r.service}`;
      let s = served.get(key);
      if (!s) served.set(key, (s = { t: { requests: 0, errors: 0, rps: 0, latency: arena.histogram() }, start: w.start, end: w.end, cap: w.cap }));
      addInbound(s.t, r, w.first);
      s.start = Math.min(s.start, w.start);
      s.end = Math.max(s.end, w.end);
      s.cap = Math.max(s.cap, w.cap);
      yield;
    }
    const out = new Map<string, Traffic>();
    for (const [key, { t, start, end, cap }] of served) out.set(key, { ...t, rps: t.requests / (Math.max(1, Math.min(cap, end - start)) / 1000) });
    return out;
  }

  /**
   * Where a reporter's reports within the window start (they are kept in
   * arrival order, so the window is their tail), and the seconds they stand
   * for: the time they cover while the reporter is live; up to now once it
   * has gone quiet, so the rate of a stopped process falls away instead of
   * standing still until its reports expire. Undefined: none in the window.
   */
  #inWindow(r: ReporterState, windowMs: number, now: number): { first: number; seconds: number; start: number; end: number; cap: number } | undefined {
    const from = now - windowMs;
    const { reports } = r;
    let first = reports.length;
    let covered = 0;
    while (first > 0 && reports[first - 1]!.at >= from) covered += reports[--first]!.intervalMs;
    if (first === reports.length) return undefined;
    const oldest = reports[first]!;
    const live = this.live(r, now);
    const start = oldest.at - oldest.intervalMs;
    const span = live ? covered : now - start;
    return { first, seconds: Math.max(0.001, Math.min(windowMs + oldest.intervalMs, span) / 1000), start, end: live ? reports[reports.length - 1]!.at : now, cap: windowMs + oldest.intervalMs };
  }
}

function addInbound(t: Traffic, r: ReporterState, first: number): void {
  for (let i = first; i < r.reports.length; i++) {
    for (const inbound of r.reports[i]!.inbound) {
      t.requests += inbound.requests;
      t.errors += inbound.errors;
      t.latency.addSparse(inbound.latency);
    }
  }
}
