/**
 * The suite's one poll: for conditions no event announces (a count in another process, a file appearing).
 * `boundMs` is a stall ceiling, never an expectation.
 */

/**
 * Poll `probe` until it returns true; resolves with the ms it took. Throws after `boundMs`, naming `what`
 * when given. `everyMs`: the pause between probes (default 10 ms).
 */
export async function waitUntil(probe: () => boolean | Promise<boolean>, boundMs: number, what?: string | number, everyMs?: number): Promise<number> {
  const pause = typeof what === 'number' ? what : (everyMs ?? 10);
  const label = typeof what === 'string' ? `${what}: not within ${boundMs} ms` : `condition not met within ${boundMs} ms`;
  const started = performance.now();
  while (!(await probe())) {
    if (performance.now() - started > boundMs) throw new Error(label);
    await new Promise((resolve) => setTimeout(resolve, pause));
  }
  return performance.now() - started;
}
