/**
 * The last 15 minutes of the mesh, for the dashboard's small charts: per
 * service (what its instances served) and per edge, the rps, success rate and
 * p99 of each 15 s step. Fed by the reports the stats store already holds: a
 * sample every step reads the last step of them (as a summary's window does),
 * so nothing is added to the path of a report.
 *
 * Bounded in memory whatever reporters send: a fixed number of points per
 * series, a cap on series (a new one over it is not kept, and counted), and a
 * series with no traffic in any of its points is forgotten.
 */
import { LatencyArena } from './latency-arena.js';
import type { Sliced } from './sliced.js';
import type { StatsStore } from './stats-store.js';
import { trafficView, type TrafficView } from './summary.js';

/** 15 minutes of 15 s steps. */
export const HISTORY_POINTS = 60;
/** Services and edges together: 3 000 series of 60 points of 3 figures is about 4 MiB. */
export const HISTORY_MAX_SERIES = 3_000;

/** One series as the API gives it: figures oldest first, aligned with `times`; null where there was no traffic. */
export interface HistorySeries {
  rps: (number | null)[];
  successRate: (number | null)[];
  p99Ms: (number | null)[];
}

export interface HistoryView {
  stepSeconds: number;
  /** End of each step (ISO 8601), oldest first. */
  times: string[];
  services: ({ service: string } & HistorySeries)[];
  edges: ({ source: string | null; destination: string } & HistorySeries)[];
  /** Series not kept because the cap was reached (since start). */
  droppedSeries: number;
}

/** What one step saw, keyed `namespace/name` for services and `source>destination` for edges. */
export interface HistorySample {
  services: Map<string, TrafficView>;
  edges: Map<string, TrafficView>;
}

const FIGURES = 3;

export class StatsHistory {
  readonly points: number;
  readonly maxSeries: number;
  #times: number[] = [];
  /** Per series: points x (rps, successRate, p99Ms), a ring aligned with #times; NaN for no traffic. */
  #series = new Map<string, Float64Array>();
  /** Slot of the newest point. */
  #head = -1;
  droppedSeries = 0;

  constructor(options: { points?: number; maxSeries?: number } = {}) {
    this.points = options.points ?? HISTORY_POINTS;
    this.maxSeries = options.maxSeries ?? HISTORY_MAX_SERIES;
  }

  get series(): number {
    return this.#series.size;
  }

  record(at: number, sample: HistorySample): void {
    this.#head = (this.#head + 1) % this.points;
    if (this.#times.length < this.points) this.#times.push(at);
    else this.#times[this.#head] = at;
    const slot = this.#head * FIGURES;
    for (const [key, data] of this.#series) {
      data.fill(NaN, slot, slot + FIGURES);
      if (data.every((v) => Number.isNaN(v))) this.#series.delete(key);
    }
    const put = (key: string, t: TrafficView) => {
      if (t.requests === 0) return;
      let data = this.#series.get(key);
      if (data === undefined) {
        if (this.#series.size >= this.maxSeries) {
          this.droppedSeries++;
          return;
        }
        data = new Float64Array(this.points * FIGURES).fill(NaN);
        this.#series.set(key, data);
      }
      data[slot] = t.rps;
      data[slot + 1] = t.successRate ?? NaN;
      data[slot + 2] = t.p99Ms ?? NaN;
    };
    for (const [key, t] of sample.services) put(`s:${key}`, t);
    for (const [key, t] of sample.edges) put(`e:${key}`, t);
  }

  view(stepMs: number): HistoryView {
    const n = this.#times.length;
    // Oldest first: the slot after the head once the ring is full, else slot 0.
    const order = Array.from({ length: n }, (_, i) => (n < this.points ? i : (this.#head + 1 + i) % this.points));
    const services: HistoryView['services'] = [];
    const edges: HistoryView['edges'] = [];
    for (const [key, data] of [...this.#series].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))) {
      const figures = (k: number) => order.map((slot) => nullable(data[slot * FIGURES + k]!));
      const series: HistorySeries = { rps: figures(0), successRate: figures(1), p99Ms: figures(2) };
      if (key.startsWith('s:')) {
        services.push({ service: key.slice(2), ...series });
      } else {
        const [source, destination] = key.slice(2).split('>') as [string, string];
        edges.push({ source: source === '' ? null : source, destination, ...series });
      }
    }
    return { stepSeconds: stepMs / 1000, times: order.map((slot) => new Date(this.#times[slot]!).toISOString()), services, edges, droppedSeries: this.droppedSeries };
  }
}

function nullable(v: number): number | null {
  return Number.isNaN(v) ? null : v;
}

/** One step's figures from the stats store: as a summary of a `stepMs` window reads them, services and edges only. */
export function* historySample(stats: StatsStore, stepMs: number): Sliced<HistorySample> {
  const arena = LatencyArena.acquire();
  try {
    const served = yield* stats.servedInSlices(stepMs, arena);
    const services = new Map<string, TrafficView>();
    for (const [key, t] of served) if (t.requests > 0) services.set(key, trafficView(t));
    const edges = new Map<string, TrafficView>();
    for (const e of yield* stats.edgesInSlices(stepMs, arena)) {
      edges.set(`${e.source ?? ''}>${e.destination}`, trafficView(e));
      yield;
    }
    return { services, edges };
  } finally {
    arena.release();
  }
}
