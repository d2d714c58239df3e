import assert from 'node:assert/strict';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, describe, it } from 'node:test';
import { Agent, request } from 'undici';
import { ErrorCode } from '../../src/core/errors.js';
import { LoadShedder, type LoadSheddingOptions } from '../../src/server/load-shedding.js';
import type { InboundHandler } from '../../src/server/stack.js';

const closers: (() => Promise<void>)[] = [];

/** Poll `check` until true; throws after `ms` (no unbounded loop may outlive a failed test). */
async function until(check: () => boolean, ms = 5_000, what = 'condition'): Promise<void> {
  const t0 = performance.now();
  while (!check()) {
    if (performance.now() - t0 > ms) throw new Error(`${what} not met within ${ms} ms`);
    await new Promise((r) => setTimeout(r, 5));
  }
}
after(async () => {
  for (const c of closers.reverse()) await c();
});

async function serve(app: InboundHandler, options: LoadSheddingOptions): Promise<{ port: number; shedder: LoadShedder }> {
  const shedder = new LoadShedder(options);
  shedder.start();
  const handle = shedder.filter(app);
  const server = http.createServer((req, res) => handle(req, res));
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  closers.push(async () => {
    await shedder.close();
    server.closeAllConnections();
    await new Promise<void>((r) => server.close(() => r()));
  });
  return { port: (server.address() as AddressInfo).port, shedder };
}

describe('load shedding (real http.Server)', { timeout: 90_000 }, () => {
  it('beyond maxConcurrent: 503 with Retry-After and x-hyphae-rejected: shed, before the handler runs', async () => {
    const held: http.ServerResponse[] = [];
    const reasons: string[] = [];
    let ran = 0;
    let hold = true;
    const { port, shedder } = await serve(
      (_req, res) => {
        ran++;
        if (hold) held.push(res);
        else res.end('direct');
      },
      { maxConcurrent: 2, retryAfterSeconds: 2, onShed: (r) => reasons.push(r) },
    );
    const agent = new Agent({ connections: 10 });
    closers.push(() => agent.close());
    const url = `http://127.0.0.1:${port}/`;
    const first = [request(url, { dispatcher: agent }), request(url, { dispatcher: agent })];
    await until(() => held.length === 2, 5_000, 'two requests held');
    const shed = await request(url, { dispatcher: agent });
    assert.equal(shed.statusCode, 503);
    assert.equal(shed.headers['retry-after'], '2');
    assert.equal(shed.headers['x-hyphae-rejected'], 'shed');
    assert.equal(((await shed.body.json()) as { error: { code: string } }).error.code, ErrorCode.OVERLOADED);
    assert.equal(ran, 2);
    assert.equal(shedder.shedCount, 1);
    assert.deepEqual(reasons, ['concurrency']);
    hold = false;
    for (const r of held) r.end('done');
    for (const p of first) assert.equal(await (await p).body.text(), 'done');
    const next = await request(url, { dispatcher: agent });
    assert.equal(next.statusCode, 200);
    assert.equal(await next.body.text(), 'direct');
    await until(() => shedder.inflight === 0, 5_000, 'all responses closed');
  });

  it('a caller that disconnects frees its place', async () => {
    const { port, shedder } = await serve(() => {}, { maxConcurrent: 1 });
    const ac = new AbortController();
    const p = request(`http://127.0.0.1:${port}/`, { signal: ac.signal });
    await until(() => shedder.inflight === 1, 5_000, 'request admitted');
    ac.abort();
    await assert.rejects(p);
    await until(() => shedder.inflight === 0, 5_000, 'place freed');
  });

  it('sheds while the event loop lags past the threshold, and serves again once it recovers', async () => {
    // 200 ms: a busy 2-core machine delays a loop by tens of ms, which must not count as this process lagging;
    // the burst below lags it by 300 ms at every turn. Before it, the shedder has to see a calm loop.
    const { port, shedder } = await serve((_req, res) => res.end('ok'), { eventLoopDelayMs: 200, sampleIntervalMs: 100 });
    const url = `http://127.0.0.1:${port}/`;
    await until(() => !shedder.lagging, 30_000, 'a calm loop before the burst');
    assert.equal((await request(url)).statusCode, 200);
    // A CPU-bound burst: the loop is blocked 300 ms out of every ~310 ms, so every sample sees a p99 delay far above 200 ms.
    const burner = setInterval(() => {
      const t = performance.now();
      while (performance.now() - t < 300);
    }, 10);
    let shed = 0;
    let maxDelay = 0;
    try {
      const stop = performance.now() + 15_000;
      while (shed === 0 && performance.now() < stop) {
        const r = await request(url);
        await r.body.text();
        maxDelay = Math.max(maxDelay, shedder.eventLoopDelay);
        if (r.statusCode === 503) {
          assert.equal(r.headers['x-hyphae-rejected'], 'shed');
          shed++;
        }
      }
    } finally {
      clearInterval(burner);
    }
    assert.equal(shed, 1, 'a request was shed while the loop lagged');
    console.log(`# event-loop delay ${maxDelay.toFixed(0)} ms > 200 ms: shed`);
    await until(() => !shedder.lagging, 30_000, 'recovery once the loop is calm');
    const ok = await request(url);
    assert.equal(ok.statusCode, 200);
    await ok.body.text();
  });
});
