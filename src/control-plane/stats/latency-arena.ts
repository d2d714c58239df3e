/**
 * Dense latency histograms for one summary build, side by side in one
 * Float64Array. A summary merges every report in its window (up to the stats
 * store's 500 000 entries) into a histogram per edge, instance and service:
 * tens of thousands of them on a big mesh. A Float64Array each (what
 * LatencyHistogram is) made allocation and its garbage most of a build's
 * time; one array, grown by doubling, is a handful of allocations per build.
 * Arenas are reused from build to build (`acquire`, `release`): a new
 * multi-megabyte array every second is external memory that V8 answers with
 * full collections of a heap that holds the whole store. An arena belongs to
 * one build at a time: builds run in slices and may interleave.
 */
import { bucketValue, LATENCY_BUCKETS, type SparseBuckets } from '../../core/latency-histogram.js';

const INITIAL_HISTOGRAMS = 256;
/** Arenas kept for reuse: one per window built at once, in practice. */
const POOL_SIZE = 3;
const pool: LatencyArena[] = [];

export class LatencyArena {
  data = new Float64Array(LATENCY_BUCKETS * INITIAL_HISTOGRAMS);
  #used = 0;

  static acquire(): LatencyArena {
    return pool.pop() ?? new LatencyArena();
  }

  /**
   * Back to the pool, its histograms no longer read. One that its build used
   * less than a quarter of is let go, so that one huge summary does not keep
   * its memory once the store has shrunk.
   */
  release(): void {
    const capacity = this.data.length / LATENCY_BUCKETS;
    const used = this.#used;
    this.#used = 0;
    if (pool.length >= POOL_SIZE || (capacity > INITIAL_HISTOGRAMS && used * 4 < capacity)) return;
    pool.push(this);
  }

  /** A new, empty histogram. */
  histogram(): ArenaHistogram {
    const at = this.#used++ * LATENCY_BUCKETS;
    if (at + LATENCY_BUCKETS > this.data.length) {
      const grown = new Float64Array(this.data.length * 2);
      grown.set(this.data.subarray(0, at));
      this.data = grown;
    } else {
      // A reused arena holds the previous build's counts.
      this.data.fill(0, at, at + LATENCY_BUCKETS);
    }
    return new ArenaHistogram(this, at);
  }
}

export class ArenaHistogram {
  readonly #arena: LatencyArena;
  readonly #at: number;
  count = 0;

  constructor(arena: LatencyArena, at: number) {
    this.#arena = arena;
    this.#at = at;
  }

  /** Add a report's buckets (the store holds validated reports only: 0 <= index < LATENCY_BUCKETS, count >= 1). */
  addSparse(buckets: SparseBuckets): void {
    const data = this.#arena.data;
    for (let k = 0; k < buckets.length; k++) {
      // Indexed, not destructured: this runs for every edge of every report in the window.
      const pair = buckets[k]!;
      data[this.#at + pair[0]]! += pair[1];
      this.count += pair[1];
    }
  }

  /** Add another histogram of the same arena. */
  add(other: ArenaHistogram): void {
    const data = this.#arena.data;
    for (let i = 0; i < LATENCY_BUCKETS; i++) data[this.#at + i]! += data[other.#at + i]!;
    this.count += other.count;
  }

  /** Each q-quantile (0..1, ascending) in ms, nearest rank over buckets as LatencyHistogram.quantile reads it; NaN when empty. */
  quantiles(...qs: number[]): number[] {
    if (this.count === 0) return qs.map(() => NaN);
    const data = this.#arena.data;
    const out: number[] = [];
    let seen = 0;
    let i = -1;
    for (const q of qs) {
      const rank = Math.max(1, Math.ceil(q * this.count));
      while (seen < rank && i < LATENCY_BUCKETS - 1) seen += data[this.#at + ++i]!;
      out.push(bucketValue(i));
    }
    return out;
  }

  quantile(q: number): number {
    return this.quantiles(q)[0]!;
  }
}
