/**
 * The last minute of traffic stats, as mesh processes report it (POST
 * /v1/stats). Kept per reporter (one per process) and merged on read: per
 * edge (source service -> destination service), per serving instance, and
 * per service. Times are the control plane's own clock at receipt; no
 * reporter's clock is trusted.
 */
import { LatencyHistogram } from '../../core/latency-histogram.js';
import type { StatsReport } from '../../config/stats.js';

export const STATS_RETENTION_MS = 60_000;

interface Received {
  at: number;
  intervalMs: number;
  edges: StatsReport['edges'];
  inbound: StatsReport['inbound'];
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
  endpoints: StatsReport['endpoints'];
  certificate: StatsReport['certificate'];
  configErrors: StatsReport['configErrors'];
}

export interface Traffic {
  requests: number;
  errors: number;
  /** Requests per second over the window. */
  rps: number;
  latency: LatencyHistogram;
}

export interface EdgeTraffic extends Traffic {
  /** `namespace/name` of the calling service; undefined for a process without a service name. */
  source: string | undefined;
  /** `namespace/name` */
  destination: string;
}

export interface StatsStoreOptions {
  retentionMs?: number;
  now?: () => number;
}

export class StatsStore {
  #reporters = new Map<string, ReporterState>();
  #retentionMs: number;
  #now: () => number;

  constructor(options: StatsStoreOptions = {}) {
    this.#retentionMs = options.retentionMs ?? STATS_RETENTION_MS;
    this.#now = options.now ?? Date.now;
  }

  add(report: StatsReport): void {
    const now = this.#now();
    let r = this.#reporters.get(report.reporter);
    if (!r) {
      r = {
        id: report.reporter,
        service: report.service,
        namespace: report.namespace,
        instances: [],
        lastAt: now,
        intervalMs: 0,
        reports: [],
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
    r.reports.push({ at: now, intervalMs: Math.min(report.intervalMs, this.#retentionMs), edges: report.edges, inbound: report.inbound });
    this.prune(now);
  }

  /** Forget reports older than the retention, and reporters with nothing left. */
  prune(now = this.#now()): void {
    const cutoff = now - this.#retentionMs;
    for (const [id, r] of this.#reporters) {
      let drop = 0;
      while (drop < r.reports.length && r.reports[drop]!.at < cutoff) drop++;
      if (drop > 0) r.reports.splice(0, drop);
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
  edges(windowMs: number): EdgeTraffic[] {
    const now = this.#now();
    const out = new Map<string, EdgeTraffic>();
    for (const r of this.reporters()) {
      const source = r.service === undefined ? undefined : `${r.namespace}/${r.service}`;
      const { reports, seconds } = this.#inWindow(r, windowMs, now);
      for (const rep of reports) {
        for (const e of rep.edges) {
          const destination = `${e.namespace}/${e.destination}`;
          const key = `${source ?? ''}>${destination}`;
          let t = out.get(key);
          if (!t) out.set(key, (t = { source, destination, requests: 0, errors: 0, rps: 0, latency: new LatencyHistogram() }));
          t.requests += e.requests;
          t.errors += e.errors;
          t.rps += e.requests / seconds;
          t.latency.addSparse(e.latency, e.latencySumMs);
        }
      }
    }
    return [...out.values()];
  }

  /** Served traffic over the last `windowMs`, per reporter (the process's servers together). */
  inbound(r: ReporterState, windowMs: number): Traffic {
    const { reports, seconds } = this.#inWindow(r, windowMs, this.#now());
    const t: Traffic = { requests: 0, errors: 0, rps: 0, latency: new LatencyHistogram() };
    for (const rep of reports) {
      if (!rep.inbound) continue;
      t.requests += rep.inbound.requests;
      t.errors += rep.inbound.errors;
      t.latency.addSparse(rep.inbound.latency, rep.inbound.latencySumMs);
    }
    t.rps = t.requests / seconds;
    return t;
  }

  /**
   * A reporter's reports within the window, and the seconds they stand for:
   * the time they cover while the reporter is live; up to now once it has
   * gone quiet, so the rate of a stopped process falls away instead of
   * standing still until its reports expire.
   */
  #inWindow(r: ReporterState, windowMs: number, now: number): { reports: Received[]; seconds: number } {
    const from = now - windowMs;
    const reports = r.reports.filter((rep) => rep.at >= from);
    if (reports.length === 0) return { reports, seconds: windowMs / 1000 };
    const covered = reports.reduce((s, rep) => s + rep.intervalMs, 0);
    const start = reports[0]!.at - reports[0]!.intervalMs;
    const span = this.live(r, now) ? covered : now - start;
    return { reports, seconds: Math.max(0.001, Math.min(windowMs + reports[0]!.intervalMs, span) / 1000) };
  }
}
