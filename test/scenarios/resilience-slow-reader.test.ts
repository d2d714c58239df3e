/**
 * Memory stays bounded when a client stops reading (issue 5, "Memory stays
 * bounded when a client stops reading or a server never answers"; the second
 * half is resilience-limit.test.ts). CALLS mesh calls receive the headers of a
 * 256 MiB response each and never read the body. Backpressure must reach the
 * server through every layer of the mesh (the attempt that holds a body back
 * while the stack decides, the delivered stream, the undici pool): the server
 * stops being able to write after a bounded number of bytes, and this process
 * does not buffer the rest. Letting go of the bodies ends the calls (the server
 * sees its responses closed, no endpoint stays in flight).
 *
 * Server and client share this process, on loopback, so the memory figures
 * cover both sides' buffers.
 */
import assert from 'node:assert/strict';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, it } from 'node:test';
import v8 from 'node:v8';
import vm from 'node:vm';
import type { Dispatcher } from 'undici';
import { createMesh, type Mesh } from '../../src/index.js';
import { StaticResolver } from '../../src/extend.js';

v8.setFlagsFromString('--expose-gc');
const gc = vm.runInNewContext('gc') as () => void;

const CALLS = 10;
const MiB = 2 ** 20;
const BODY = 256 * MiB;
const CHUNK = Buffer.alloc(64 * 1024, 'x');

interface Sent {
  written: number;
  closed: boolean;
}

const sent: Sent[] = [];
let server: http.Server;
let mesh: Mesh;

before(async () => {
  server = http.createServer((_req, res) => {
    const s: Sent = { written: 0, closed: false };
    sent.push(s);
    res.on('close', () => (s.closed = true));
    res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': BODY });
    // Writes only while the socket takes more: what it manages to write is what the client side buffers.
    const pump = () => {
      while (s.written < BODY && !s.closed) {
        s.written += CHUNK.length;
        if (!res.write(CHUNK)) return void res.once('drain', pump);
      }
      if (!s.closed) res.end();
    };
    pump();
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  mesh = await createMesh({ resolver: new StaticResolver({ big: [{ address: '127.0.0.1', port }] }) });
});

after(async () => {
  await mesh?.close();
  server?.closeAllConnections();
  await new Promise<void>((resolve) => server?.close(() => resolve()));
});

function memory(): number {
  gc();
  gc();
  const m = process.memoryUsage();
  return (m.heapUsed + m.arrayBuffers) / MiB;
}

const total = () => sent.reduce((n, s) => n + s.written, 0);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

it(`${CALLS} calls that never read a 256 MiB body: the server is held back after a bounded number of bytes, memory stays bounded`, { timeout: 60_000 }, async () => {
  const m0 = memory();
  const responses: Dispatcher.ResponseData[] = await Promise.all(Array.from({ length: CALLS }, () => mesh.request('http://big/')));
  assert.ok(responses.every((r) => r.statusCode === 200));

  // Wait until the writes stop (no progress for 500 ms), at most 10 s.
  let last = -1;
  let stableSince = performance.now();
  const t0 = performance.now();
  while (performance.now() - stableSince < 500) {
    if (performance.now() - t0 > 10_000) break;
    const now = total();
    if (now !== last) {
      last = now;
      stableSince = performance.now();
    }
    await sleep(50);
  }
  const stalledAfterMs = performance.now() - t0;
  const m1 = memory();
  const perCallMax = Math.max(...sent.map((s) => s.written));
  const inflight = mesh.endpoints('big')[0]!.inflight;

  console.log(
    `# ${CALLS} unread 256 MiB bodies: server wrote ${(total() / MiB).toFixed(1)} MiB in all (at most ${(perCallMax / MiB).toFixed(2)} MiB for one), ` +
      `writes stalled after ${stalledAfterMs.toFixed(0)} ms; heap + array buffers after GC ${m0.toFixed(1)} -> ${m1.toFixed(1)} MiB`,
  );
  assert.equal(sent.length, CALLS);
  assert.ok(stalledAfterMs < 10_000, 'the server stopped being able to write (backpressure reached it)');
  // Bound: the kernel's socket buffers on both sides (Linux autotunes them up to the tcp_rmem + tcp_wmem maxima:
  // 6 + 4 MiB by default, 32 + 4 MiB on some hosts) plus a stream's high-water mark; well below the 256 MiB body.
  // The bytes in the kernel are not this process's memory: the bound on that is the next assertion.
  assert.ok(perCallMax < 64 * MiB, `one response pushed ${(perCallMax / MiB).toFixed(1)} MiB into the client`);
  assert.ok(m1 - m0 < 64, `memory grew ${(m1 - m0).toFixed(1)} MiB holding ${CALLS} unread responses`);
  assert.equal(inflight, CALLS, 'an unread response still holds its endpoint (its connection is busy)');

  // Let go: the calls end, the server sees every response closed, and no endpoint stays in flight.
  for (const r of responses) r.body.destroy();
  const t1 = performance.now();
  while ((sent.some((s) => !s.closed) || mesh.endpoints('big')[0]!.inflight > 0) && performance.now() - t1 < 5_000) await sleep(20);
  assert.ok(
    sent.every((s) => s.closed),
    'the server saw every response closed',
  );
  assert.equal(mesh.endpoints('big')[0]!.inflight, 0);
});
