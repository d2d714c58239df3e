/** The tap point of a wrapped server (server/tap.ts): a real http.Server on 127.0.0.1, the control plane replaced by a sink. */
import assert from 'node:assert/strict';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, describe, it } from 'node:test';
import { Agent, request } from 'undici';
import type { TapBatch, TapSpec } from '../../src/config/tap.js';
import type { Logger } from '../../src/core/logger.js';
import { TapPoint, type TapOutcome } from '../../src/server/tap.js';
import { wrapServer } from '../../src/server/wrap-server.js';
import { TestPolicySource } from '../helpers/policy-source.js';
import { waitUntil } from '../helpers/services.js';

const silent: Logger = { debug() {}, info() {}, warn() {}, error() {} } as unknown as Logger;
const closers: (() => Promise<void>)[] = [];
after(async () => {
  for (const c of closers.reverse()) await c();
});

class Sink {
  batches: { id: string; batch: TapBatch }[] = [];
  /** Taps the "control plane" no longer has. */
  gone = new Set<string>();
  send = (id: string, batch: TapBatch): Promise<TapOutcome> => {
    this.batches.push({ id, batch });
    return Promise.resolve(this.gone.has(id) ? 'gone' : 'ok');
  };
  samples(id?: string) {
    return this.batches.filter((b) => id === undefined || b.id === id).flatMap((b) => b.batch.samples);
  }
  dropped(): number {
    return this.batches.reduce((n, b) => n + (b.batch.dropped ?? 0), 0);
  }
}

/** A wrapped server whose handler answers `status`, with a tap point whose clock the test moves. */
async function serve(status = 200): Promise<{ origin: string; point: TapPoint; sink: Sink; clock: { t: number }; agent: Agent }> {
  const sink = new Sink();
  const clock = { t: 1_000 };
  const point = new TapPoint(sink, () => clock.t);
  const server = wrapServer(
    http.createServer((_req, res) => {
      res.statusCode = status;
      res.end('ok');
    }),
    { registrar: async () => undefined, logger: silent, defaults: { labels: {}, drainDelayMs: 0, gracePeriodMs: 1_000 }, policies: new TestPolicySource([]), tap: point },
    { register: false },
  );
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const agent = new Agent();
  closers.push(async () => {
    point.close();
    await agent.close();
    server.closeAllConnections();
    await new Promise<void>((r) => http.Server.prototype.close.call(server, () => r()));
  });
  return { origin: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, point, sink, clock, agent };
}

async function get(s: { origin: string; agent: Agent }, path: string, method = 'GET'): Promise<number> {
  const r = await request(`${s.origin}${path}`, { method: method as 'GET', dispatcher: s.agent });
  await r.body.dump();
  return r.statusCode;
}

const spec = (over: Partial<TapSpec> = {}): TapSpec => ({ id: 'tap-aaaaaaaa', maxRps: 100, leaseMs: 10_000, ...over });

describe('server tap point', { timeout: 60_000 }, () => {
  it('samples nothing while no tap is on, and nothing is sent', async () => {
    const s = await serve();
    assert.equal(s.point.sessions, undefined);
    for (let i = 0; i < 20; i++) assert.equal(await get(s, '/a'), 200);
    // The flush timer exists only while a tap is on: nothing can have been sent.
    assert.equal(s.sink.batches.length, 0);
  });

  it('records method, normalized path without query, status, latency and instance, and sends them in batches', async () => {
    const s = await serve(201);
    s.point.apply([spec()]);
    assert.equal(await get(s, '/a/./b/../c?token=secret'), 201);
    assert.equal(await get(s, `/${'x'.repeat(400)}`), 201);
    await waitUntil(() => s.sink.samples().length === 2, 10_000);
    const [first, long] = s.sink.samples();
    assert.equal(first!.method, 'GET');
    assert.equal(first!.path, '/a/c', 'the normalized path, the query dropped');
    assert.equal(first!.status, 201);
    assert.ok(first!.latencyMs >= 0);
    assert.equal(first!.src, undefined, 'a plaintext caller has no verified identity');
    assert.match(first!.instance, /^127\.0\.0\.1:\d+$/);
    assert.ok(Math.abs(first!.t - Date.now()) < 60_000);
    assert.equal(long!.path.length, 256, 'paths are capped');
  });

  it('filters by method and path prefix before the rate cap', async () => {
    const s = await serve();
    s.point.apply([spec({ method: 'POST', pathPrefix: '/api/', maxRps: 1 })]);
    for (const [m, p] of [
      ['GET', '/api/x'],
      ['POST', '/other'],
      ['POST', '/api/y'],
    ] as const)
      await get(s, p, m);
    await waitUntil(() => s.sink.samples().length === 1, 10_000);
    assert.equal(s.sink.samples()[0]!.path, '/api/y', 'the only wanted request got the one token');
    assert.equal(s.sink.dropped(), 0);
  });

  it('holds maxRps per second at the source and reports what it dropped', async () => {
    const s = await serve();
    s.point.apply([spec({ maxRps: 5 })]);
    // The clock stands still: the bucket holds one second of burst and never refills.
    for (let i = 0; i < 40; i++) await get(s, `/r${i}`);
    await waitUntil(() => s.sink.samples().length + s.sink.dropped() === 40, 10_000);
    assert.equal(s.sink.samples().length, 5);
    assert.equal(s.sink.dropped(), 35);
    // A second later, five more.
    s.clock.t += 1_000;
    for (let i = 0; i < 10; i++) await get(s, `/s${i}`);
    await waitUntil(() => s.sink.samples().length + s.sink.dropped() === 50, 10_000);
    assert.equal(s.sink.samples().length, 10);
  });

  it('ends a tap whose announcement is not repeated within its lease, and one the control plane calls gone', async () => {
    const s = await serve();
    s.point.apply([spec({ id: 'tap-lease-1', leaseMs: 1_000 }), spec({ id: 'tap-gone-11' })]);
    s.sink.gone.add('tap-gone-11');
    await get(s, '/x');
    // Its first batch is answered "gone": that tap ends at once; the other lives on until its lease ends.
    await waitUntil(() => s.point.sessions?.length === 1, 10_000);
    assert.equal(s.point.sessions![0]!.spec.id, 'tap-lease-1');
    s.clock.t += 1_001;
    await waitUntil(() => s.point.sessions === undefined, 10_000);
    const sent = s.sink.batches.length;
    for (let i = 0; i < 10; i++) await get(s, '/after');
    assert.equal(s.sink.batches.length, sent, 'nothing is sent once every tap ended');
  });

  it('an empty list turns tapping off; a renewed tap keeps its bucket', async () => {
    const s = await serve();
    s.point.apply([spec({ maxRps: 2 })]);
    for (let i = 0; i < 3; i++) await get(s, '/y');
    s.point.apply([spec({ maxRps: 2 })]);
    await get(s, '/y');
    await waitUntil(() => s.sink.samples().length + s.sink.dropped() === 4, 10_000);
    assert.equal(s.sink.samples().length, 2, 'the renewal did not refill the bucket');
    s.point.apply([]);
    assert.equal(s.point.sessions, undefined);
  });
});
