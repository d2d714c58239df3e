/**
 * Traffic for the demos: a bounded batch whose answers are counted by a key
 * (the subset, zone or service that answered), steady background calls for
 * `--keep`, and the one way a demo waits for what a change leads to.
 */

/** Answers counted by key; `failed` counts calls that threw or answered other than 200 (the send function decides). */
export interface Tally {
  total: number;
  failed: number;
  counts: Map<string, number>;
  /** Calls that answered with `key`. */
  of(key: string): number;
}

/**
 * `n` calls, `concurrency` at a time: bounded in count by construction, and in time by the `signal` each call
 * gets (a ceiling against a stall, never an expectation). `send` resolves with the key to count the answer
 * under, or undefined for a failed call.
 */
export async function tally(n: number, concurrency: number, send: (signal: AbortSignal) => Promise<string | undefined>, callTimeoutMs = 30_000): Promise<Tally> {
  const counts = new Map<string, number>();
  let failed = 0;
  let next = 0;
  const worker = async () => {
    while (next < n) {
      next++;
      let key: string | undefined;
      try {
        key = await send(AbortSignal.timeout(callTimeoutMs));
      } catch {
        key = undefined;
      }
      if (key === undefined) failed++;
      else counts.set(key, (counts.get(key) ?? 0) + 1);
    }
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, n) }, worker));
  return { total: n, failed, counts, of: (key) => counts.get(key) ?? 0 };
}

/** `part` of `total` as a percentage with one decimal, the way every demo prints a share. */
export function percent(part: number, total: number): string {
  return `${total === 0 ? '0.0' : ((100 * part) / total).toFixed(1)} %`;
}

/** Calls `send` `rps` times a second, at most `maxInflight` at once, until the returned stop() is called. */
export function steadyTraffic(send: () => Promise<unknown>, rps: number, maxInflight = 20): () => void {
  let inflight = 0;
  const tick = setInterval(() => {
    if (inflight >= maxInflight) return;
    inflight++;
    send()
      .catch(() => {})
      .finally(() => inflight--);
  }, 1000 / rps);
  return () => clearInterval(tick);
}

/**
 * Checks `done()` every `intervalMs` until it holds, for a change a demo made to reach the process (an
 * instance gone from its endpoints, a new one seen). The ceiling only catches a stall.
 */
export async function waitUntil(what: string, done: () => boolean | Promise<boolean>, { intervalMs = 50, timeoutMs = 60_000 } = {}): Promise<void> {
  const deadline = performance.now() + timeoutMs;
  while (!(await done())) {
    if (performance.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting until ${what}`);
    await new Promise((r) => setTimeout(r, intervalMs));
  }
}

/**
 * Calls `conforms()` until it has held `streak` times in a row: how a demo knows that a config change it
 * cannot see directly (a route now sends every call to one subset) has reached the callers. With two
 * subsets answering before the change, 20 in a row by chance is about one in a million.
 */
export async function waitForStreak(what: string, conforms: () => Promise<boolean>, streak = 20): Promise<void> {
  let run = 0;
  await waitUntil(
    what,
    async () => {
      run = (await conforms().catch(() => false)) ? run + 1 : 0;
      return run >= streak;
    },
    { intervalMs: 0 },
  );
}
