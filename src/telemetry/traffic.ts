/**
 * Compact traffic stats per edge, for the control plane's live views: counts,
 * errors and a log-bucket latency histogram, reset at each report. Recording
 * is a few array increments on an accumulator the filter resolved when its
 * stack was built, so it costs nothing measurable per call.
 */
import { LatencyHistogram, type SparseBuckets } from '../core/latency-histogram.js';

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

export interface EdgeSnapshot extends TrafficSnapshot {
  destination: string;
  namespace: string;
}

export class EdgeTraffic {
  #edges = new Map<string, { namespace: string; name: string; counter: TrafficCounter }>();
  /** Requests this process served (every wrapped server together). */
  readonly inbound = new TrafficCounter();

  /** The counter of one destination; the client stack resolves it once, when it is built. */
  edge(namespace: string, name: string): TrafficCounter {
    const key = `${namespace}/${name}`;
    let e = this.#edges.get(key);
    if (!e) this.#edges.set(key, (e = { namespace, name, counter: new TrafficCounter() }));
    return e.counter;
  }

  /** Every edge: for the active-requests gauge. */
  *counters(): Iterable<{ namespace: string; name: string; counter: TrafficCounter }> {
    yield* this.#edges.values();
  }

  /** Edges with traffic since the last take (an idle edge is not reported). */
  take(): { edges: EdgeSnapshot[]; inbound: TrafficSnapshot } {
    const edges: EdgeSnapshot[] = [];
    for (const { namespace, name, counter } of this.#edges.values()) {
      if (counter.requests === 0) continue;
      edges.push({ destination: name, namespace, ...counter.take() });
    }
    return { edges, inbound: this.inbound.take() };
  }
}
