/**
 * A fixed log-bucket latency histogram: the compact summary every mesh process
 * reports to the control plane, and what the control plane merges into
 * per-edge p50/p99. Fixed buckets (not t-digest or HDR) because sums of
 * histograms from many processes must stay exact: merging is adding counts.
 *
 * Bucket 0 holds [0, 0.05 ms); bucket i >= 1 holds [0.05 * r^(i-1), 0.05 * r^i)
 * with r = 2^(1/4), so a percentile read at a bucket's geometric middle is
 * within ~9 % of the truth. The last bucket also takes everything above
 * ~2 minutes. It lives in core because both sides (telemetry in the runtime,
 * the control plane, the CLI) must agree on the bucket scheme.
 */
export const LATENCY_BASE_MS = 0.05;
export const LATENCY_STEPS_PER_DOUBLING = 4;
/** Buckets in all; the last one is open-ended. */
export const LATENCY_BUCKETS = 88;

/** Sparse wire form: [bucket index, count] pairs, count > 0, in index order. */
export type SparseBuckets = [number, number][];

export function latencyBucket(ms: number): number {
  if (!(ms >= LATENCY_BASE_MS)) return 0; // also catches NaN and negatives (clock steps)
  const i = 1 + Math.floor(LATENCY_STEPS_PER_DOUBLING * Math.log2(ms / LATENCY_BASE_MS));
  return i < LATENCY_BUCKETS ? i : LATENCY_BUCKETS - 1;
}

/** Lower and upper bound (ms) of a bucket. */
export function bucketBounds(i: number): [number, number] {
  if (i <= 0) return [0, LATENCY_BASE_MS];
  const r = 2 ** (1 / LATENCY_STEPS_PER_DOUBLING);
  return [LATENCY_BASE_MS * r ** (i - 1), LATENCY_BASE_MS * r ** i];
}

/** The value reported for a bucket: its geometric middle (half the lower bound for bucket 0). */
export function bucketValue(i: number): number {
  const [lo, hi] = bucketBounds(i);
  return i <= 0 ? hi / 2 : Math.sqrt(lo * hi);
}

export class LatencyHistogram {
  readonly counts = new Float64Array(LATENCY_BUCKETS);
  count = 0;
  /** Sum of recorded values (ms), for the mean. */
  sum = 0;

  record(ms: number): void {
    this.counts[latencyBucket(ms)]!++;
    this.count++;
    this.sum += ms;
  }

  /** Add another histogram's sparse counts (several processes, several reports). */
  addSparse(buckets: SparseBuckets, sum = 0): void {
    for (const [i, n] of buckets) {
      if (i < 0 || i >= LATENCY_BUCKETS || !(n > 0)) continue;
      this.counts[i]! += n;
      this.count += n;
    }
    this.sum += sum;
  }

  add(other: LatencyHistogram): void {
    for (let i = 0; i < LATENCY_BUCKETS; i++) this.counts[i]! += other.counts[i]!;
    this.count += other.count;
    this.sum += other.sum;
  }

  toSparse(): SparseBuckets {
    const out: SparseBuckets = [];
    for (let i = 0; i < LATENCY_BUCKETS; i++) if (this.counts[i]! > 0) out.push([i, this.counts[i]!]);
    return out;
  }

  /** The q-quantile (0..1) in ms, nearest-rank over buckets; NaN when empty. */
  quantile(q: number): number {
    if (this.count === 0) return NaN;
    const rank = Math.max(1, Math.ceil(q * this.count));
    let seen = 0;
    for (let i = 0; i < LATENCY_BUCKETS; i++) {
      seen += this.counts[i]!;
      if (seen >= rank) return bucketValue(i);
    }
    return bucketValue(LATENCY_BUCKETS - 1);
  }

  reset(): void {
    this.counts.fill(0);
    this.count = 0;
    this.sum = 0;
  }
}
