import type { Dispatcher } from 'undici';
import { measure } from './proc-stats.js';

/**
 * A closed-loop load generator: `concurrency` loops, each sending the next
 * request when the previous one finished, for a bounded time and count.
 * Latencies are kept in a typed array (no allocation per sample).
 */
export interface LoadResult {
  requests: number;
  errors: number;
  seconds: number;
  rps: number;
  p50ms: number;
  p99ms: number;
  /** This process's CPU (user + system) per request, µs: the client's cost, steadier than req/s on a shared machine. */
  cpuUsPerRequest: number;
}

export async function runLoad(send: () => Promise<void>, { concurrency, durationMs, maxRequests = 5_000_000 }: { concurrency: number; durationMs: number; maxRequests?: number }): Promise<LoadResult> {
  const samples = new Float64Array(maxRequests);
  let n = 0;
  let errors = 0;
  const start = performance.now();
  const cpu0 = process.cpuUsage();
  const deadline = start + durationMs;
  const loop = async () => {
    while (n < maxRequests && performance.now() < deadline) {
      const t0 = performance.now();
      try {
        await send();
      } catch {
        errors++;
      }
      if (n < maxRequests) samples[n++] = performance.now() - t0;
    }
  };
  await Promise.all(Array.from({ length: concurrency }, loop));
  const seconds = (performance.now() - start) / 1000;
  const cpu = process.cpuUsage(cpu0);
  const cpuUsPerRequest = n === 0 ? NaN : (cpu.user + cpu.system) / n;
  const sorted = samples.subarray(0, n).sort();
  const pct = (p: number) => (n === 0 ? NaN : sorted[Math.min(n - 1, Math.floor((n * p) / 100))]!);
  return { requests: n, errors, seconds, rps: n / seconds, p50ms: pct(50), p99ms: pct(99), cpuUsPerRequest };
}

export function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

/**
 * An open-loop load generator: requests start at a fixed rate whatever the
 * previous ones do (as real callers arrive), so the latency a request sees is
 * not hidden by the load generator waiting (coordinated omission). Bounded in
 * concurrency so a stalled target cannot exhaust memory.
 */
export async function runOpenLoop(send: () => Promise<void>, { rate, durationMs, maxInFlight = 10_000 }: { rate: number; durationMs: number; maxInFlight?: number }): Promise<LoadResult> {
  const total = Math.floor((rate * durationMs) / 1000);
  const samples = new Float64Array(total);
  let n = 0;
  let errors = 0;
  let inFlight = 0;
  const pending: Promise<void>[] = [];
  const start = performance.now();
  const one = async (scheduled: number) => {
    inFlight++;
    try {
      await send();
    } catch {
      errors++;
    }
    inFlight--;
    // From when the request should have started: a late start counts against the latency.
    samples[n++] = performance.now() - scheduled;
  };
  // Start requests in small batches per timer tick (timers cannot fire every 0.3 ms).
  for (let i = 0; i < total;) {
    const now = performance.now();
    while (i < total && start + (i * 1000) / rate <= now) {
      if (inFlight < maxInFlight) pending.push(one(start + (i * 1000) / rate));
      else errors++;
      i++;
    }
    await new Promise((r) => setTimeout(r, 1));
  }
  await Promise.all(pending);
  const seconds = (performance.now() - start) / 1000;
  const sorted = samples.subarray(0, n).sort();
  const pct = (p: number) => (n === 0 ? NaN : sorted[Math.min(n - 1, Math.floor((n * p) / 100))]!);
  return { requests: n, errors, seconds, rps: n / seconds, p50ms: pct(50), p99ms: pct(99), cpuUsPerRequest: NaN };
}

export interface LoadTarget {
  name: string;
  send: () => Promise<void>;
  /** Processes on this target's path whose CPU each round reads from /proc (a proxy's): reported per request in `cpuUs`. */
  pids?: () => readonly number[];
  /** What those processes are, in the per-round line; default `proxy`. */
  pidsName?: string;
  /**
   * Counters on the target's path (a proxy's new connections, bench/lib/connection-census.ts), read before and
   * after each round: the round's result carries the difference. Read outside the timed load.
   */
  counters?: () => Promise<Record<string, number>>;
}

export interface RoundResult extends LoadResult {
  /** CPU µs per request of each of the target's `pids`, in their order (empty without pids). */
  cpuUs: number[];
  /** How much each of the target's `counters` grew during the round (absent without counters). */
  counters?: Record<string, number>;
}

/**
 * A warm-up per target (`warmupMs`, by default up to 1 s; or `warmupRequests` requests within `warmupMs`), then `rounds` rounds of every target, in
 * an order reversed every other round so that machine drift hits them alike.
 * `check` sees each round's result (to refuse errors, say). Results by name.
 */
export async function interleavedRounds(
  targets: readonly LoadTarget[],
  { concurrency, durationMs, rounds, warmupMs = Math.min(1000, durationMs), warmupRequests }: { concurrency: number; durationMs: number; rounds: number; warmupMs?: number; warmupRequests?: number },
  check?: (target: LoadTarget, result: RoundResult) => void,
): Promise<Map<string, RoundResult[]>> {
  // With warmupRequests, warmupMs is the ceiling: the warm-up ends after that many requests or that long.
  for (const t of targets) await runLoad(t.send, { concurrency, durationMs: warmupMs, ...(warmupRequests ? { maxRequests: warmupRequests } : {}) });
  const results = new Map<string, RoundResult[]>(targets.map((t) => [t.name, []]));
  for (let r = 0; r < rounds; r++) {
    for (const t of r % 2 ? [...targets].reverse() : targets) {
      // Read per round: a process restarted meanwhile (an nginx worker) is counted from the round it exists in.
      const before = await t.counters?.();
      const m = await measure(t.pids?.() ?? [], () => runLoad(t.send, { concurrency, durationMs }));
      const after = await t.counters?.();
      const res: RoundResult = { ...m.result, cpuUs: m.cpuSeconds.map((s) => (s * 1e6) / Math.max(1, m.result.requests)) };
      if (before && after) res.counters = Object.fromEntries(Object.keys(after).map((k) => [k, after[k]! - (before[k] ?? 0)]));
      check?.(t, res);
      results.get(t.name)!.push(res);
      const counted = res.counters
        ? ` (${Object.entries(res.counters)
            .map(([k, v]) => `${k} ${v}`)
            .join(', ')})`
        : '';
      const cpu = res.cpuUs.length ? `, ${t.pidsName ?? 'proxy'} CPU ${res.cpuUs.map((us) => us.toFixed(0)).join(' + ')} µs/req` : '';
      process.stderr.write(`  round ${r + 1}/${rounds} ${t.name.padEnd(32)} ${res.rps.toFixed(0)} req/s${cpu}${counted}\n`);
    }
  }
  return results;
}

/** A send that fails on anything but the server's own 200, so that a proxy's 502 never counts as a fast answer. */
export function poolSend(pool: Dispatcher, origin: string, headers?: Record<string, string>): () => Promise<void> {
  return async () => {
    const r = await pool.request({ origin, path: '/', method: 'GET', headers });
    await r.body.dump();
    if (r.statusCode !== 200) throw new Error(`${origin} answered ${r.statusCode}`);
  };
}
