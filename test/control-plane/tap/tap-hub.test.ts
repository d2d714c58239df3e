/**
 * The control plane's tap hub (control-plane/tap/tap-hub.ts) on real sockets: readers are HTTP clients of a
 * server on 127.0.0.1 that hands them to the hub; the instances' batches are handed to receive() directly,
 * and the clock is the test's, so rates are exact.
 */
import assert from 'node:assert/strict';
import http from 'node:http';
import net, { type AddressInfo } from 'node:net';
import { after, describe, it } from 'node:test';
import type { TapEvent, TapSample } from '../../../src/config/tap.js';
import { ErrorCode } from '../../../src/core/errors.js';
import { HttpError } from '../../../src/control-plane/http/http-error.js';
import { TapHub, type TapHubOptions } from '../../../src/control-plane/tap/tap-hub.js';
import { SseClient } from '../../helpers/sse-client.js';
import { waitUntil } from '../../helpers/services.js';

const closers: (() => Promise<void>)[] = [];
after(async () => {
  for (const c of closers.reverse()) await c();
});

interface Harness {
  url: string;
  hub: TapHub;
  clock: { t: number };
  announced: TapEvent[];
  /** The server side of each reader, in the order they opened. */
  responses: http.ServerResponse[];
}

async function harness(options: Partial<TapHubOptions> = {}, request = { maxRps: 1000, durationMs: 60_000 }): Promise<Harness> {
  const clock = { t: 10_000 };
  const announced: TapEvent[] = [];
  const hub = new TapHub({
    announce: (_service, event) => {
      announced.push(JSON.parse(event.split('\ndata: ')[1]!) as TapEvent);
      return 2;
    },
    log: () => {},
    now: () => clock.t,
    ...options,
  });
  const responses: http.ServerResponse[] = [];
  const server = http.createServer((req, res) => {
    try {
      hub.open(req, res, 'default/api', request);
      responses.push(res);
    } catch (err) {
      const e = err as HttpError;
      res.writeHead(e.status, { 'content-type': 'application/json' }).end(JSON.stringify({ error: { code: e.code, message: e.message } }));
    }
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  closers.push(async () => {
    hub.close();
    server.closeAllConnections();
    await new Promise<void>((r) => server.close(() => r()));
  });
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, hub, clock, announced, responses };
}

function sample(i: number, path = `/items/${i}`): TapSample {
  return { t: Date.now(), method: 'GET', path, status: 200, latencyMs: 1.5, src: 'spiffe://hyphae.local/ns/default/sa/web', instance: '127.0.0.1:4000' };
}

const ADMIN = { kind: 'admin' } as const;

function tapId(client: SseClient): string {
  return client.data<{ id: string }>('tap')[0]!.id;
}

describe('tap hub', { timeout: 60_000 }, () => {
  it('announces a tap to the instances on open and its end when the reader leaves', async () => {
    const h = await harness();
    const reader = await SseClient.open(h.url, '/');
    await reader.until(() => reader.count('tap') === 1, 10_000, 'the tap event');
    const id = tapId(reader);
    assert.deepEqual(h.announced.at(-1), { service: 'default/api', taps: [{ id, maxRps: 1000, leaseMs: 10_000 }] });
    await reader.close();
    await waitUntil(() => h.hub.size === 0, 10_000);
    assert.deepEqual(h.announced.at(-1), { service: 'default/api', taps: [] });
    assert.throws(
      () => h.hub.receive(id, ADMIN, [sample(1)], 0),
      (e: HttpError) => e.status === 404 && e.code === ErrorCode.TAP_NOT_FOUND,
    );
  });

  it('takes samples only from the tapped service, at most maxRps a second', async () => {
    const h = await harness({}, { maxRps: 10, durationMs: 60_000 });
    const reader = await SseClient.open(h.url, '/');
    await reader.until(() => reader.count('tap') === 1, 10_000, 'the tap event');
    const id = tapId(reader);
    const join = (service: string) => ({ kind: 'join', tokenId: 't1', service, namespace: 'default' }) as const;
    assert.throws(
      () => h.hub.receive(id, join('web'), [sample(1)], 0),
      (e: HttpError) => e.status === 403,
    );
    assert.throws(
      () => h.hub.receive(id, { kind: 'viewer', tokenId: 'v1' }, [sample(1)], 0),
      (e: HttpError) => e.status === 403,
    );
    h.hub.receive(
      id,
      join('api'),
      Array.from({ length: 100 }, (_, i) => sample(i)),
      7,
    );
    await reader.until(() => reader.count('sample') === 10, 10_000, 'ten samples');
    // One second later (the test's clock), ten more; what was over is reported by the next tick.
    h.clock.t += 1_000;
    h.hub.receive(
      id,
      join('api'),
      Array.from({ length: 100 }, (_, i) => sample(i)),
      0,
    );
    await reader.until(() => reader.count('sample') === 20 && reader.count('dropped') > 0, 10_000, 'twenty samples and a dropped count');
    const dropped = reader.data<{ atInstances: number; atControlPlane: number }>('dropped').reduce((n, d) => ({ i: n.i + d.atInstances, c: n.c + d.atControlPlane }), { i: 0, c: 0 });
    assert.deepEqual(dropped, { i: 7, c: 180 });
    assert.equal(reader.count('sample'), 20);
    await reader.close();
  });

  it('a reader that does not read loses samples, never the control plane memory', async () => {
    const maxBufferedBytes = 64 * 1024;
    const h = await harness({ maxBufferedBytes, maxSamplesPerSecond: 1_000_000 });
    const socket = net.connect(Number(new URL(h.url).port), '127.0.0.1');
    await new Promise<void>((r) => socket.once('connect', r));
    socket.write('GET / HTTP/1.1\r\nhost: x\r\n\r\n');
    // Read the answer's head, then never again: the kernel's buffers fill, then the response's.
    await new Promise<void>((r) => socket.once('data', () => r()));
    socket.pause();
    await waitUntil(() => h.responses.length === 1, 10_000);
    const res = h.responses[0]!;
    const id = [...h.announced.at(-1)!.taps][0]!.id;
    const path = `/${'p'.repeat(250)}`;
    let maxSeen = 0;
    // Bounded: at most 400 seconds of the test's clock at 1000 samples each (~140 MB offered).
    for (let round = 0; round < 400; round++) {
      h.clock.t += 1_000;
      for (let b = 0; b < 5; b++)
        h.hub.receive(
          id,
          ADMIN,
          Array.from({ length: 200 }, (_, i) => sample(i, path)),
          0,
        );
      maxSeen = Math.max(maxSeen, res.writableLength);
      assert.ok(res.writableLength <= maxBufferedBytes + 1024, `${res.writableLength} bytes queued for a reader that does not read`);
      if (res.writableLength > maxBufferedBytes / 2 && round > 5) break;
      // Let the kernel take what it takes, so the loop measures the response's own queue.
      await new Promise((r) => setImmediate(r));
    }
    assert.ok(maxSeen > maxBufferedBytes / 2, `the reader's queue filled up to the bound (${maxSeen} bytes)`);
    socket.destroy();
    await waitUntil(() => h.hub.size === 0, 10_000);
  });

  it('caps taps in all and per service (429 HYPHAE_ERR_TOO_MANY_STREAMS)', async () => {
    const h = await harness({ maxTaps: 20 });
    const readers: SseClient[] = [];
    try {
      for (let i = 0; i < 8; i++) readers.push(await SseClient.open(h.url, '/'));
      assert.ok(readers.every((r) => r.status === 200));
      const ninth = await SseClient.open(h.url, '/');
      assert.equal(ninth.status, 429);
      assert.equal(ninth.error?.error.code, ErrorCode.TOO_MANY_STREAMS);
      assert.match(ninth.error!.error.message, /default\/api already has 8 taps open/);
    } finally {
      for (const r of readers) await r.close();
    }
    await waitUntil(() => h.hub.size === 0, 10_000);
    const small = await harness({ maxTaps: 1 });
    const one = await SseClient.open(small.url, '/');
    const two = await SseClient.open(small.url, '/');
    assert.equal(two.status, 429);
    assert.match(two.error!.error.message, /already serves 1 taps/);
    await one.close();
  });

  it('ends a tap at its duration, with the reason, and turns the instances off', async () => {
    const h = await harness({}, { maxRps: 10, durationMs: 5_000 });
    const reader = await SseClient.open(h.url, '/');
    await reader.until(() => reader.count('tap') === 1, 10_000, 'the tap event');
    h.clock.t += 5_000;
    await reader.ended;
    assert.deepEqual(reader.data('end'), [{ reason: 'duration reached' }]);
    assert.equal(h.hub.size, 0);
    assert.deepEqual(h.announced.at(-1)!.taps, []);
  });
});
