import assert from 'node:assert/strict';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, describe, it } from 'node:test';
import { request } from 'undici';
import { ErrorCode, isMeshError } from '../../src/core/errors.js';
import { deadline, perTryTimeout } from '../../src/client/logical/deadline.js';
import { deadlineIntake, getDeadline, getRemainingMs, getSignal } from '../../src/server/deadline-intake.js';
import type { InboundHandler } from '../../src/server/stack.js';
import { startNamedServer } from '../helpers/http-servers.js';
import { stackHarness, type Harness } from '../helpers/stack-harness.js';

const closers: (() => Promise<void>)[] = [];
after(async () => {
  for (const c of closers.reverse()) await c();
});

/** A real http.Server with the intake in front of `app`. */
async function serve(app: InboundHandler, options = {}): Promise<number> {
  const handle = deadlineIntake(options)(app);
  const server = http.createServer((req, res) => handle(req, res));
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  closers.push(
    () =>
      new Promise<void>((r) => {
        server.closeAllConnections();
        server.close(() => r());
      }),
  );
  return (server.address() as AddressInfo).port;
}

describe('deadline intake (real http.Server)', { timeout: 60_000 }, () => {
  it('handlers see the caller budget: getRemainingMs, getDeadline, and a signal that aborts at it', async () => {
    let seen: { handlerAt?: number; readAt?: number; remaining?: number; deadline?: number; abortedAfter?: number; reason?: unknown } = {};
    const port = await serve((_req, res) => {
      const t0 = performance.now();
      const handlerAt = Date.now();
      const remaining = getRemainingMs();
      // The clock read again after: a busy machine may pause the process between two reads.
      const readAt = Date.now();
      seen = { handlerAt, readAt, remaining, deadline: getDeadline() };
      const signal = getSignal()!;
      signal.addEventListener('abort', () => {
        seen.abortedAfter = performance.now() - t0;
        seen.reason = signal.reason;
        res.end('stopped');
      });
    });
    const sentAt = Date.now();
    const res = await request(`http://127.0.0.1:${port}/`, { headers: { 'x-hyphae-deadline-ms': '150' } });
    assert.equal(await res.body.text(), 'stopped');
    // The budget counts from the request's arrival, which a busy machine may delay by tens of ms after sending:
    // the deadline lies between sending + 150 ms and the handler's start + 150 ms (+-2 ms of clock rounding),
    // and the time left is what remains of the 150 ms at the handler, consistent with that deadline.
    const { handlerAt, readAt, remaining, deadline } = seen as Required<typeof seen>;
    assert.ok(remaining > 0 && remaining <= 150, `remaining ${remaining}`);
    assert.ok(deadline >= sentAt + 150 - 2 && deadline <= handlerAt + 150 + 2, `deadline ${deadline - sentAt} ms after sending, ${deadline - handlerAt} ms after the handler started`);
    // The time left was read between handlerAt and readAt: it is what the deadline left at some moment between.
    assert.ok(
      remaining >= deadline - readAt - 2 && remaining <= deadline - handlerAt + 2,
      `deadline ${deadline - handlerAt} ms after the handler started and ${deadline - readAt} ms after the time left was read, remaining ${remaining}`,
    );
    // Not before the deadline (timers may fire a millisecond early); the ceiling only proves the abort came from it.
    assert.ok(seen.abortedAfter! >= remaining - 2 && seen.abortedAfter! < 5_000, `aborted after ${seen.abortedAfter}, remaining ${remaining}`);
    assert.ok(isMeshError(seen.reason, ErrorCode.DEADLINE_EXCEEDED));
  });

  it('no budget left: 504 with HYPHAE_ERR_DEADLINE_EXCEEDED, and the handler never runs', async () => {
    let ran = 0;
    const port = await serve((_req, res) => {
      ran++;
      res.end();
    });
    const res = await request(`http://127.0.0.1:${port}/`, { headers: { 'x-hyphae-deadline-ms': '0' } });
    assert.equal(res.statusCode, 504);
    assert.equal(res.headers['x-hyphae-rejected'], 'deadline');
    assert.equal(((await res.body.json()) as { error: { code: string } }).error.code, ErrorCode.DEADLINE_EXCEEDED);
    assert.equal(ran, 0);
  });

  it('no header (or a malformed one): no deadline and no context, so the request costs no AsyncLocalStorage', async () => {
    const seen: { remaining?: number | undefined; signal?: AbortSignal | undefined }[] = [];
    const port = await serve((_req, res) => {
      seen.push({ remaining: getRemainingMs(), signal: getSignal() });
      res.end();
    });
    await (await request(`http://127.0.0.1:${port}/`)).body.text();
    await (await request(`http://127.0.0.1:${port}/`, { headers: { 'x-hyphae-deadline-ms': '1e3' } })).body.text();
    assert.deepEqual(seen, [
      { remaining: undefined, signal: undefined },
      { remaining: undefined, signal: undefined },
    ]);
  });

  it('a repeated deadline header keeps the smallest budget instead of dropping the deadline', async () => {
    const seen: { raw?: string | string[] | undefined; remaining?: number | undefined }[] = [];
    const port = await serve((req, res) => {
      seen.push({ raw: req.headers['x-hyphae-deadline-ms'], remaining: getRemainingMs() });
      res.end();
    });
    const headers = ['x-hyphae-deadline-ms', '60000', 'x-hyphae-deadline-ms', '300'];
    await (await request(`http://127.0.0.1:${port}/`, { headers })).body.text();
    assert.equal(seen[0]!.raw, '60000, 300', 'Node joins the repeats: the case the parser must read');
    const remaining = seen[0]!.remaining;
    assert.ok(remaining !== undefined && remaining > 0 && remaining <= 300, `remaining ${remaining}`);
  });

  it('with a deadline (here defaultTimeoutMs), the signal also aborts when the caller goes away', async () => {
    const seen: { reason?: unknown }[] = [];
    let aborted!: () => void;
    const gotAbort = new Promise<void>((r) => (aborted = r));
    const port = await serve(
      () => {
        const entry: { reason?: unknown } = {};
        seen.push(entry);
        const signal = getSignal()!;
        signal.addEventListener('abort', () => {
          entry.reason = signal.reason;
          aborted();
        });
      },
      { defaultTimeoutMs: 60_000 },
    );
    const ac = new AbortController();
    const p = request(`http://127.0.0.1:${port}/`, { signal: ac.signal });
    await new Promise((r) => setTimeout(r, 50));
    ac.abort();
    await assert.rejects(p);
    await gotAbort;
    assert.ok(isMeshError(seen[0]!.reason, ErrorCode.CANCELLED));
  });

  it('defaultTimeoutMs bounds requests that bring no budget; maxTimeoutMs caps those that do', async () => {
    const remaining: number[] = [];
    const port = await serve(
      (_req, res) => {
        remaining.push(getRemainingMs()!);
        res.end();
      },
      { defaultTimeoutMs: 2_000, maxTimeoutMs: 5_000 },
    );
    await (await request(`http://127.0.0.1:${port}/`)).body.text();
    await (await request(`http://127.0.0.1:${port}/`, { headers: { 'x-hyphae-deadline-ms': '60000' } })).body.text();
    assert.ok(remaining[0]! > 1_900 && remaining[0]! <= 2_000);
    assert.ok(remaining[1]! > 4_900 && remaining[1]! <= 5_000);
  });

  it('outside a request there is no deadline and no signal', () => {
    assert.equal(getDeadline(), undefined);
    assert.equal(getRemainingMs(), undefined);
    assert.equal(getSignal(), undefined);
  });
});

describe('deadline propagation over two hops (b -> c, c hangs)', { timeout: 15_000 }, () => {
  async function chain(): Promise<{ bPort: number; cClosed: Promise<number>; h: Harness }> {
    let cClosedResolve!: (ms: number) => void;
    const cClosed = new Promise<number>((r) => (cClosedResolve = r));
    const c = await startNamedServer('c', (_req, res) => {
      const t0 = performance.now();
      res.on('close', () => cClosedResolve(performance.now() - t0));
    });
    closers.push(() => c.close());
    const h = await stackHarness([{ address: '127.0.0.1', port: c.port }], () => ({ above: [deadline(), perTryTimeout()] }));
    closers.push(() => h.close());
    const bPort = await serve((_req, res) => {
      // An inbound handler returns nothing: the call runs on its own and answers every outcome itself
      // (c's body, or the error's code), so its promise never rejects.
      void (async () => {
        try {
          const r = await request('http://api/', { dispatcher: h.dispatcher });
          res.end(await r.body.text());
        } catch (err) {
          res.statusCode = isMeshError(err, ErrorCode.DEADLINE_EXCEEDED) ? 504 : 502;
          res.end((err as { code?: string }).code);
        }
      })();
    });
    return { bPort, cClosed, h };
  }

  it("b's call to c gets b's remaining budget: it is cut at the caller's 200 ms and c sees it cancelled", async () => {
    const { bPort, cClosed } = await chain();
    const t0 = performance.now();
    const res = await request(`http://127.0.0.1:${bPort}/`, { headers: { 'x-hyphae-deadline-ms': '200' } });
    const body = await res.body.text();
    const ms = performance.now() - t0;
    assert.equal(res.statusCode, 504);
    assert.equal(body, ErrorCode.DEADLINE_EXCEEDED);
    assert.ok(ms >= 190 && ms < 5_000, `b answered after ${ms.toFixed(0)} ms`);
    const cMs = await cClosed;
    // Stall ceilings: without propagation c's request would stay open until its own end (never, here).
    assert.ok(cMs < 5_000, `c's request was closed after ${cMs.toFixed(0)} ms`);
    console.log(`# 2 hops, 200 ms budget, c hangs: b answered 504 after ${ms.toFixed(0)} ms, c's request cancelled after ${cMs.toFixed(0)} ms`);
  });

  it("a caller that goes away cancels b's call to c at once", async () => {
    const { bPort, cClosed } = await chain();
    const ac = new AbortController();
    // A long budget: the request has a context (requests without a deadline get none), so leaving cancels.
    const p = request(`http://127.0.0.1:${bPort}/`, { signal: ac.signal, headers: { 'x-hyphae-deadline-ms': '60000' } });
    await new Promise((r) => setTimeout(r, 100));
    const t0 = performance.now();
    ac.abort();
    await assert.rejects(p);
    await cClosed;
    const ms = performance.now() - t0;
    // Against the 60 s budget: "at once" is anything far below it on a busy machine.
    assert.ok(ms < 5_000, `c cancelled ${ms.toFixed(0)} ms after the caller left`);
  });
});
