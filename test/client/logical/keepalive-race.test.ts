/**
 * Keep-alive race: the server closes an idle keep-alive connection just as
 * the client sends the next request on it. undici fails such a request
 * (ECONNRESET, or UND_ERR_SOCKET "other side closed"): it does not retry on its
 * own, and only avoids the race when the server announces its timeout in a
 * Keep-Alive header (it then closes idle sockets keepAliveTimeoutThreshold,
 * 2 s, earlier). The retry filter makes it invisible for idempotent requests:
 * a reset before any response is retried, on a new connection.
 *
 * Bounded here; HYPHAE_KEEPALIVE_REQUESTS raises the count. The 10,000-request
 * run through the mesh is test/scenarios/resilience-keepalive.test.ts.
 */
import assert from 'node:assert/strict';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { Pool, request } from 'undici';
import { deadline, perTryTimeout } from '../../../src/client/logical/deadline.js';
import { outlierDetection } from '../../../src/client/endpoint/outlier.js';
import { retry, type RetryEvent } from '../../../src/client/logical/retry.js';
import { OutlierDetector } from '../../../src/resilience/outlier-detector.js';
import { RetryBudget } from '../../../src/resilience/retry-budget.js';
import { buildDir, startNode, type Child } from '../../helpers/process.js';
import { stackHarness, type Harness } from '../../helpers/stack-harness.js';
import { defaultOutlierDetection, defaultRetryBudget, retryPolicy } from '../../helpers/resilience-defaults.js';

const IDLE_MS = 40;
const CROSS_MS = 4;
const CLIENTS = 6;
const TOTAL = Number(process.env.HYPHAE_KEEPALIVE_REQUESTS ?? 150);
const PER_CLIENT = Math.ceil(TOTAL / CLIENTS);

let child: Child;
let port: number;

before(async () => {
  child = startNode(path.join(buildDir, 'test/helpers/keepalive-server.js'), [String(IDLE_MS), String(CROSS_MS)]);
  port = Number((await child.waitFor(/listening (\d+)/))[1]);
});
after(async () => {
  await child.kill('SIGTERM');
});

/** Idle gaps around the server's timeout: some before the crossing window, some in it, some after the close. */
const gap = () => IDLE_MS - CROSS_MS - 2 + Math.random() * (CROSS_MS + 4);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function stats(): Promise<Record<string, number>> {
  const res = await request(`http://127.0.0.1:${port}/stats`, { reset: true });
  return (await res.body.json()) as Record<string, number>;
}

/** CLIENTS independent clients (each its own connection pool), each sending PER_CLIENT requests in sequence with idle gaps. */
async function drive(send: (client: number) => Promise<void>): Promise<{ ok: number; errors: Record<string, number> }> {
  let ok = 0;
  const errors: Record<string, number> = {};
  await Promise.all(
    Array.from({ length: CLIENTS }, async (_, c) => {
      for (let i = 0; i < PER_CLIENT; i++) {
        try {
          await send(c);
          ok++;
        } catch (err) {
          const e = err as { code?: string; cause?: { code?: string } };
          const code = e.cause?.code ?? e.code ?? String(err);
          errors[code] = (errors[code] ?? 0) + 1;
        }
        await sleep(gap());
      }
    }),
  );
  return { ok, errors };
}

describe('keep-alive race (a real server process with a short idle timeout)', { timeout: 30_000 + TOTAL * 20 }, () => {
  it('plain undici: the race surfaces as ECONNRESET / "other side closed" (the test exercises it)', async () => {
    const pools = Array.from({ length: CLIENTS }, () => new Pool(`http://127.0.0.1:${port}`));
    try {
      const r = await drive(async (c) => {
        const res = await pools[c]!.request({ path: '/', method: 'GET' });
        await res.body.text();
      });
      const failed = Object.values(r.errors).reduce((a, b) => a + b, 0);
      console.log(`# plain undici: ${r.ok + failed} requests, ${failed} failed ${JSON.stringify(r.errors)}`);
      assert.ok(failed > 0, 'the race was not exercised: the test would prove nothing');
      assert.deepEqual(
        Object.keys(r.errors).filter((k) => k !== 'ECONNRESET' && k !== 'UND_ERR_SOCKET'),
        [],
      );
    } finally {
      await Promise.all(pools.map((p) => p.close()));
    }
  });

  it('through the retry filter: 0 errors reach the caller for idempotent requests', async () => {
    const retries: RetryEvent[] = [];
    const harnesses: Harness[] = [];
    for (let c = 0; c < CLIENTS; c++) {
      harnesses.push(
        await stackHarness([{ address: '127.0.0.1', port }], (dest) => ({
          above: [deadline(), retry({ policy: () => retryPolicy(), budget: new RetryBudget(defaultRetryBudget), onRetry: (e) => retries.push(e) }), perTryTimeout()],
          below: [outlierDetection(new OutlierDetector(defaultOutlierDetection, () => dest.endpoints.size))],
        })),
      );
    }
    const before = await stats();
    try {
      const r = await drive(async (c) => {
        const res = await request('http://api/', { dispatcher: harnesses[c]!.dispatcher });
        assert.equal(await res.body.text(), 'ok');
      });
      const after = await stats();
      const crossed = after.crossedRst! + after.crossedFin! - before.crossedRst! - before.crossedFin!;
      const resets = retries.filter((e) => e.condition === 'reset' && e.decision === 'retry').length;
      console.log(
        `# mesh retry: ${r.ok} requests ok, errors ${JSON.stringify(r.errors)}; the server cut ${crossed} requests, ` +
          `${resets} reset retries (${resets - crossed} from natural races with the idle timer)`,
      );
      assert.deepEqual(r.errors, {});
      assert.equal(r.ok, CLIENTS * PER_CLIENT);
      assert.ok(crossed > 0, 'the race was exercised');
      // Every cut request was retried; a few more resets come from the idle timer itself racing a request.
      assert.ok(resets >= crossed, `${resets} retries for ${crossed} cut requests`);
    } finally {
      await Promise.all(harnesses.map((h) => h.close()));
    }
  });
});
