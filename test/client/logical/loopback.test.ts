/**
 * The resilience filters composed into a small stack over REAL loopback
 * servers and undici pools (test/helpers/stack-harness.ts).
 */
import assert from 'node:assert/strict';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { Readable } from 'node:stream';
import { after, describe, it } from 'node:test';
import { fetch as undiciFetch, request } from 'undici';
import { ErrorCode, isMeshError } from '../../../src/core/errors.js';
import { concurrencyLimit } from '../../../src/client/logical/concurrency-limit.js';
import { deadline, perTryTimeout, type CallTimeouts } from '../../../src/client/logical/deadline.js';
import { outlierDetection } from '../../../src/client/endpoint/outlier.js';
import { retry, type RetryEvent } from '../../../src/client/logical/retry.js';
import { ConcurrencyLimiter } from '../../../src/resilience/concurrency-limiter.js';
import { OutlierDetector, type EjectionEvent } from '../../../src/resilience/outlier-detector.js';
import { RetryBudget } from '../../../src/resilience/retry-budget.js';
import type { RetryPolicy } from '../../../src/resilience/retry-policy.js';
import { startBlackhole } from '../../helpers/blackhole.js';
import { startNamedServer, type TestServer } from '../../helpers/http-servers.js';
import { stackHarness, type Harness } from '../../helpers/stack-harness.js';
import { defaultLimits, defaultOutlierDetection, defaultRetryBudget, retryPolicy } from '../../helpers/resilience-defaults.js';

const open: { close(): Promise<void> }[] = [];
after(async () => {
  await Promise.all(open.map((o) => o.close()));
});

async function server(name: string, handler?: http.RequestListener): Promise<TestServer> {
  const s = await startNamedServer(name, handler);
  open.push(s);
  return s;
}

/** A port nothing listens on (a server started and closed). */
async function deadPort(): Promise<number> {
  const s = http.createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  const port = (s.address() as AddressInfo).port;
  await new Promise<void>((r) => s.close(() => r()));
  return port;
}

interface FullStack {
  h: Harness;
  retries: RetryEvent[];
  ejections: EjectionEvent[];
  budget: RetryBudget;
  limiter: ConcurrencyLimiter;
}

/** telemetry(n/a) -> deadline -> limit -> retry -> perTry -> balance -> outlier -> transport: the order proposed for stack.ts. */
async function fullStack(ports: number[], o: { policy?: RetryPolicy; timeouts?: CallTimeouts; limit?: { maxConcurrent: number; maxPending: number }; budget?: RetryBudget } = {}): Promise<FullStack> {
  const retries: RetryEvent[] = [];
  const ejections: EjectionEvent[] = [];
  const budget = o.budget ?? new RetryBudget(defaultRetryBudget);
  const limiter = new ConcurrencyLimiter(o.limit ?? defaultLimits);
  const policy = o.policy ?? retryPolicy();
  const h = await stackHarness(
    ports.map((port) => ({ address: '127.0.0.1', port })),
    (dest) => {
      const detector = new OutlierDetector(defaultOutlierDetection, () => dest.endpoints.size);
      detector.onEjection((e) => ejections.push(e));
      return {
        above: [deadline({ timeouts: () => o.timeouts }), concurrencyLimit(limiter), retry({ policy: () => policy, budget, onRetry: (e) => retries.push(e) }), perTryTimeout()],
        below: [outlierDetection(detector)],
      };
    },
  );
  open.push(h);
  return { h, retries, ejections, budget, limiter };
}

async function get(h: Harness, path = '/', opts: Partial<Parameters<typeof request>[1]> = {}) {
  const res = await request(`http://api${path}`, { dispatcher: h.dispatcher, ...opts } as never);
  return { status: res.statusCode, headers: res.headers, text: await res.body.text() };
}

describe('resilience stack over real loopback servers', { timeout: 30_000 }, () => {
  it('a dead endpoint among three: 0 failed GETs; ejected after 5 connect failures, then never tried', async () => {
    const a = await server('a');
    const b = await server('b');
    const dead = await deadPort();
    const { h, retries, ejections } = await fullStack([a.port, dead, b.port]);
    const failures: string[] = [];
    for (let i = 0; i < 60; i++) {
      const r = await get(h, `/${i}`).catch((e: Error) => ({ status: 0, text: e.message }));
      if (r.status !== 200) failures.push(r.text);
    }
    assert.deepEqual(failures, []);
    assert.equal(ejections.length, 1);
    assert.equal(ejections[0]!.health.label, `127.0.0.1:${dead}`);
    const connectFailures = retries.filter((e) => e.condition === 'connect-failure').length;
    assert.equal(connectFailures, 5, 'exactly the 5 failures that ejected it');
    assert.equal(a.hits + b.hits, 60);
    console.log(`# dead endpoint: 60 GETs, 0 failed, ${connectFailures} retries, ejected after ${connectFailures} failures`);
  });

  it('503 from one endpoint is retried on another; POST without a key is not', async () => {
    const bad = await server('bad', (_req, res) => {
      res.statusCode = 503;
      res.end('busy');
    });
    const good = await server('good');
    // Fewer than 5 failures in a row on `bad`, so that outlier detection does not eject it here.
    const gets = await fullStack([bad.port, good.port]);
    for (let i = 0; i < 4; i++) assert.equal((await get(gets.h)).status, 200);
    // Round-robin sends each first try to `bad` (the retry to `good` moves the cursor back).
    assert.equal(bad.hits, 4);
    assert.equal(good.hits, 4);
    const posts = await fullStack([bad.port, good.port]);
    const statuses: number[] = [];
    for (let i = 0; i < 4; i++) statuses.push((await get(posts.h, '/', { method: 'POST', body: 'x' })).status);
    assert.deepEqual(statuses.sort(), [200, 200, 503, 503], 'a POST that reached the bad endpoint got its 503');
  });

  it('a shed 503 (x-hyphae-rejected: shed, Retry-After) is retried elsewhere even for POST, with its body', async () => {
    const bodies: string[] = [];
    const shedding = await server('shedding', (req, res) => {
      res.writeHead(503, { 'retry-after': '1', 'x-hyphae-rejected': 'shed' });
      res.end();
      req.resume();
    });
    const good = await server('good', (req, res) => {
      let body = '';
      req.on('data', (c) => (body += c));
      req.on('end', () => {
        bodies.push(body);
        res.end('stored');
      });
    });
    const { h } = await fullStack([shedding.port, good.port]);
    for (let i = 0; i < 6; i++) {
      const r = await get(h, '/orders', { method: 'POST', body: JSON.stringify({ n: i }), headers: { 'content-type': 'application/json' } });
      assert.equal(r.status, 200);
    }
    assert.equal(bodies.length, 6);
    assert.deepEqual(
      bodies.map((b) => JSON.parse(b).n),
      [0, 1, 2, 3, 4, 5],
    );
    assert.ok(shedding.hits >= 3);
  });

  it('fetch with a string body: a reset on the first try is retried with the whole body (buffered up front)', async () => {
    let n = 0;
    const bodies: string[] = [];
    const flaky = await server('flaky', (req, res) => {
      let body = '';
      req.on('data', (c) => (body += c));
      req.on('end', () => {
        bodies.push(body);
        if (n++ === 0) req.socket.destroy();
        else res.end('ok');
      });
    });
    const { h } = await fullStack([flaky.port]);
    const res = await undiciFetch('http://api/doc', { method: 'PUT', body: 'x'.repeat(1000), dispatcher: h.dispatcher });
    assert.equal(res.status, 200);
    assert.equal(await res.text(), 'ok');
    assert.deepEqual(
      bodies.map((b) => b.length),
      [1000, 1000],
    );
  });

  it('a streaming body of unknown length that needed a retry fails with HYPHAE_ERR_BODY_NOT_REPLAYABLE', async () => {
    const resetting = await server('resetting', (req) => {
      req.on('data', () => {});
      req.on('end', () => req.socket.destroy());
    });
    const { h } = await fullStack([resetting.port]);
    await assert.rejects(request('http://api/upload', { dispatcher: h.dispatcher, method: 'PUT', body: Readable.from([Buffer.from('a'), Buffer.from('b')]) }), (err) =>
      isMeshError(err, ErrorCode.BODY_NOT_REPLAYABLE),
    );
    assert.equal(resetting.hits, 1);
  });

  it('per-try timeout: a hanging endpoint is cut at perTry and the retry answers from the other', async () => {
    const hanging = await server('hanging', () => {});
    const good = await server('good');
    const { h } = await fullStack([hanging.port, good.port], { timeouts: { perTryMs: 150 } });
    const t0 = performance.now();
    const r = await get(h);
    const ms = performance.now() - t0;
    assert.equal(r.status, 200);
    assert.equal(JSON.parse(r.text).name, 'good');
    assert.ok(ms >= 140 && ms < 5_000, `answered in ${ms.toFixed(0)} ms`);
    console.log(`# per-try 150 ms over a hanging endpoint: answered in ${ms.toFixed(0)} ms`);
  });

  it('a blackholed endpoint (connect never answered): per-try timeout moves on, the request timeout ends the call', async () => {
    const hole = await startBlackhole();
    open.push(hole);
    const good = await server('good');
    const retrying = await fullStack([hole.port, good.port], { timeouts: { perTryMs: 200 } });
    let t0 = performance.now();
    const r = await get(retrying.h);
    const retriedMs = performance.now() - t0;
    assert.equal(JSON.parse(r.text).name, 'good');
    assert.ok(retriedMs >= 190 && retriedMs < 5_000, `answered after ${retriedMs.toFixed(0)} ms`);

    const only = await fullStack([hole.port], { timeouts: { requestMs: 300 } });
    t0 = performance.now();
    await assert.rejects(get(only.h), (err) => isMeshError(err, ErrorCode.DEADLINE_EXCEEDED));
    const failedMs = performance.now() - t0;
    assert.ok(failedMs >= 290 && failedMs < 5_000, `failed after ${failedMs.toFixed(0)} ms (undici's connect timeout is 10 s)`);
    console.log(`# blackholed endpoint: per-try 200 ms -> answered by the other after ${retriedMs.toFixed(0)} ms; request timeout 300 ms -> failed after ${failedMs.toFixed(0)} ms`);
  });

  it('request timeout: a hanging call fails at ~200 ms with HYPHAE_ERR_DEADLINE_EXCEEDED and the server sees it cancelled', async () => {
    let serverSawClose: () => void;
    const closed = new Promise<void>((r) => (serverSawClose = r));
    const hanging = await server('hanging', (_req, res) => res.on('close', () => serverSawClose()));
    const { h } = await fullStack([hanging.port], { timeouts: { requestMs: 200 } });
    const t0 = performance.now();
    await assert.rejects(get(h), (err) => isMeshError(err, ErrorCode.DEADLINE_EXCEEDED));
    const ms = performance.now() - t0;
    assert.ok(ms >= 190 && ms < 5_000, `failed after ${ms.toFixed(0)} ms`);
    await closed;
    console.log(`# request timeout 200 ms: failed after ${ms.toFixed(0)} ms`);
  });

  it('a stalled request body buffered for replay (small Content-Length) ends at the request timeout, not never', async () => {
    const target = await server('target');
    const { h, limiter } = await fullStack([target.port], { timeouts: { requestMs: 200 } });
    // Announces 10 bytes and never sends one: the retry layer reads it before the first attempt.
    const body = new Readable({ read() {} });
    const t0 = performance.now();
    await assert.rejects(request('http://api/upload', { dispatcher: h.dispatcher, method: 'PUT', body, headers: { 'content-length': '10' } }), (err) => isMeshError(err, ErrorCode.DEADLINE_EXCEEDED));
    const ms = performance.now() - t0;
    // Upper bound only to tell "ended at its deadline" from "hung until some other timer": before the fix it never ended.
    assert.ok(ms >= 190 && ms < 5_000, `failed after ${ms.toFixed(0)} ms`);
    assert.equal(target.hits, 0, 'nothing was sent');
    assert.equal(limiter.inflight, 0, 'the limit slot was released');
    await new Promise((r) => setImmediate(r));
    assert.ok(body.destroyed, "the application's stream was closed with the call");
    console.log(`# stalled 10-byte body, request timeout 200 ms: failed after ${ms.toFixed(0)} ms`);
  });

  it("the application's AbortSignal ends a call whose body is being buffered for replay", async () => {
    const target = await server('target');
    const { h, limiter } = await fullStack([target.port]);
    async function* stalled(): AsyncGenerator<Buffer> {
      await new Promise(() => {});
      yield Buffer.from('never');
    }
    const ac = new AbortController();
    const pending = request('http://api/upload', {
      dispatcher: h.dispatcher,
      method: 'POST',
      body: stalled() as never,
      headers: { 'content-length': '5', 'idempotency-key': 'k1' },
      signal: ac.signal,
    });
    setTimeout(() => ac.abort(new Error('caller gave up')), 100);
    await assert.rejects(pending, /caller gave up|aborted/i);
    assert.equal(target.hits, 0);
    assert.equal(limiter.inflight, 0);
  });

  it('the server receives the remaining budget in x-hyphae-deadline-ms', async () => {
    const echo = await server('echo', (req, res) => res.end(String(req.headers['x-hyphae-deadline-ms'])));
    const { h } = await fullStack([echo.port], { timeouts: { requestMs: 300 } });
    const t0 = performance.now();
    const v = Number((await get(h)).text);
    const elapsed = performance.now() - t0;
    // What was left when the request left: at most the budget, and no less than what remained when the answer
    // came back (a busy machine moves both ends, not this order). Whole ms, hence the 1 ms of rounding.
    assert.ok(Number.isInteger(v) && v <= 300 && v >= Math.min(300, Math.floor(300 - elapsed)) - 1, `header ${v} after ${elapsed.toFixed(0)} ms`);
  });

  it('concurrency limit N over a hanging backend: exactly N reach it, the rest fail fast', async () => {
    let inServer = 0;
    const hanging = await server('hanging', () => {
      inServer++;
    });
    const { h, limiter } = await fullStack([hanging.port], { limit: { maxConcurrent: 5, maxPending: 0 }, timeouts: { requestMs: 600 } });
    const t0 = performance.now();
    let slowestFastFail = 0;
    let firstDeadline = Infinity;
    const results = await Promise.allSettled(
      Array.from({ length: 50 }, () =>
        get(h).catch((err: unknown) => {
          const at = performance.now() - t0;
          if (isMeshError(err, ErrorCode.CONCURRENCY_LIMIT)) slowestFastFail = Math.max(slowestFastFail, at);
          if (isMeshError(err, ErrorCode.DEADLINE_EXCEEDED)) firstDeadline = Math.min(firstDeadline, at);
          throw err;
        }),
      ),
    );
    const fastFails = results.filter((r) => r.status === 'rejected' && isMeshError(r.reason, ErrorCode.CONCURRENCY_LIMIT));
    const timedOut = results.filter((r) => r.status === 'rejected' && isMeshError(r.reason, ErrorCode.DEADLINE_EXCEEDED));
    assert.equal(fastFails.length, 45);
    assert.equal(timedOut.length, 5);
    assert.equal(inServer, 5);
    // An order, not a time: a busy machine stretches both, but a refusal that waited for a slot would
    // come after the hanging calls ended, at their 600 ms deadline.
    assert.ok(slowestFastFail < firstDeadline, `the refusals came at once (last at ${slowestFastFail.toFixed(0)} ms), before the hanging calls ended (${firstDeadline.toFixed(0)} ms)`);
    assert.equal(limiter.inflight, 0, 'slots released once the deadlines ended the hanging calls');
    console.log(`# limit 5 over a hanging backend: 5 in flight, 45 failed within ${slowestFastFail.toFixed(0)} ms`);
  });

  it('a total outage: attempts stay within the retry budget and the caller gets the original error fast', async () => {
    const dead = await deadPort();
    // A floor of 1/s (10 per window) so that the 20 % share, not the floor, is what bounds 200 requests.
    const { h, budget } = await fullStack([dead], { policy: retryPolicy({ attempts: 3 }), budget: new RetryBudget({ ...defaultRetryBudget, minPerSecond: 1 }) });
    let failed = 0;
    for (let i = 0; i < 200; i++) {
      await get(h).catch((err: unknown) => {
        assert.ok(isMeshError(err, ErrorCode.CONNECT_FAILED), String(err));
        failed++;
      });
    }
    const s = budget.stats();
    assert.equal(failed, 200);
    // 20 % of 200 requests + 1/s x 10 s = 50 retries at most (without a budget: 400).
    assert.ok(s.retries <= 50, `retries ${s.retries}`);
    assert.ok(s.exhausted > 0);
    console.log(`# outage: 200 requests, ${s.retries} retries (attempts/requests = ${((200 + s.retries) / 200).toFixed(2)}), ${s.exhausted} refused by the budget`);
  });
});
