/** A steady request stream for rotation and outage tests: every call must succeed; failures are kept with their error. */
import type { Mesh } from '../../src/index.js';

export interface Traffic {
  ok: number;
  failed: number;
  errors: string[];
  stop(): Promise<void>;
}

/**
 * `loops` callers, each calling `url` then pausing `pauseMs`, until stop() or `maxMs`: bounded in time, so a
 * test that fails before its stop() cannot leave a stream running that keeps its process alive.
 */
export function steadyTraffic(mesh: Mesh, url: string, loops = 4, pauseMs = 5, maxMs = 120_000): Traffic {
  let running = true;
  const endAt = performance.now() + maxMs;
  const t: Traffic = {
    ok: 0,
    failed: 0,
    errors: [],
    stop: async () => {
      running = false;
      await done;
    },
  };
  const loop = async () => {
    while (running && performance.now() < endAt) {
      try {
        // Bounded: a call that hangs is a failure to report, not a test that never ends.
        const res = await mesh.request(url, { signal: AbortSignal.timeout(10_000) });
        await res.body.dump();
        if (res.statusCode === 200) t.ok++;
        else {
          t.failed++;
          t.errors.push(`status ${res.statusCode}`);
        }
      } catch (err) {
        t.failed++;
        t.errors.push(`${(err as { code?: string }).code ?? ''} ${(err as Error).message}`);
      }
      await new Promise((r) => setTimeout(r, pauseMs));
    }
  };
  const done = Promise.all(Array.from({ length: loops }, loop));
  return t;
}
