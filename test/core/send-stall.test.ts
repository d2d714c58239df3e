/**
 * The limit on an answer's way out (core/send-stall.ts) on real sockets: a
 * peer that asks for a large answer and reads none of it loses its
 * connection after the limit, and the handler writing it sees the close; a
 * peer that reads slowly but steadily gets the whole answer; a handler that
 * thinks longer than the limit, with nothing queued, is never cut; 0 turns it
 * off. Traffic to 127.0.0.1 only.
 */
import assert from 'node:assert/strict';
import http from 'node:http';
import net, { type AddressInfo } from 'node:net';
import { after, describe, it } from 'node:test';
import { limitSendStalls, scanIntervalMs } from '../../src/core/send-stall.js';
import { streamBig, waitUntil, within } from '../helpers/hostile-peers.js';

/** Larger than every buffer between the handler and a peer that reads nothing (both loopback sockets', Node's). */
const BIG_BYTES = 64 * 1024 * 1024;
const STALL_MS = 1_000;
/** A bound on what must happen: catches a stall, is not the expected time. */
const CEILING_MS = 30_000;

interface Served {
  server: http.Server;
  port: number;
  /** How each answer ended at the handler, in the order the requests came. */
  answers: Promise<'finished' | 'closed early'>[];
  cut: number;
}

async function serve(ms: number): Promise<Served> {
  const served: Served = { server: http.createServer(), port: 0, answers: [], cut: 0 };
  served.server.on('request', (req: http.IncomingMessage, res: http.ServerResponse) => {
    const url = new URL(req.url ?? '/', 'http://x');
    if (url.pathname === '/think') {
      // Nothing queued while it thinks: not a stall, however long.
      setTimeout(() => res.end('thought'), Number(url.searchParams.get('ms')));
      return;
    }
    served.answers.push(streamBig(res, Number(url.searchParams.get('bytes') ?? BIG_BYTES)));
  });
  limitSendStalls(served.server, ms, () => served.cut++);
  await new Promise<void>((resolve) => served.server.listen(0, '127.0.0.1', resolve));
  served.port = (served.server.address() as AddressInfo).port;
  return served;
}

function connect(port: number): Promise<net.Socket> {
  return new Promise((resolve, reject) => {
    const s = net.connect({ port, host: '127.0.0.1' });
    s.once('connect', () => resolve(s));
    s.once('error', reject);
  });
}

describe('send stall limit', () => {
  const servers: http.Server[] = [];
  after(async () => {
    for (const s of servers) s.closeAllConnections();
    await Promise.all(servers.map((s) => new Promise<void>((resolve) => s.close(() => resolve()))));
  });
  const started = async (ms: number) => {
    const s = await serve(ms);
    servers.push(s.server);
    return s;
  };

  it('scans every quarter of the limit, between 25 ms and 5 s', () => {
    assert.equal(scanIntervalMs(60_000), 5_000);
    assert.equal(scanIntervalMs(1_000), 250);
    assert.equal(scanIntervalMs(40), 25);
  });

  it('cuts a peer that asks for a large answer and reads none of it, and the handler sees the close', async () => {
    const s = await started(STALL_MS);
    const peer = await connect(s.port);
    peer.pause();
    peer.on('error', () => {});
    const closed = new Promise<'closed'>((resolve) => peer.once('close', () => resolve('closed')));
    peer.write('GET /big HTTP/1.1\r\nHost: x\r\n\r\n');
    try {
      await waitUntil(() => s.answers.length === 1, CEILING_MS, 'the request reached the handler');
      assert.equal(await within(s.answers[0]!, CEILING_MS), 'closed early', 'the server let go of the stuck answer');
      assert.equal(s.cut, 1);
      // Read now: what was buffered comes, then the end; far less than the whole answer.
      let got = 0;
      peer.on('data', (d: Buffer) => (got += d.length));
      peer.resume();
      assert.equal(await within(closed, CEILING_MS), 'closed');
      assert.ok(got < BIG_BYTES, `got ${got} of ${BIG_BYTES} bytes`);
    } finally {
      peer.destroy();
    }
  });

  it('lets a slow but steady reader have the whole answer', async () => {
    // 3 s: the sender sees progress only when the receiver reopens its window, after reading half its buffer
    // (a few MiB on loopback); a reader starved of CPU on a busy machine may take a second for that.
    const s = await started(3_000);
    const bytes = 32 * 1024 * 1024;
    const peer = await connect(s.port);
    let got = 0;
    let nextPause = 256 * 1024;
    // A pause of 20 ms after every 256 KiB: far slower than the server writes, but never still long enough for
    // TCP to hold the sender back for the limit (the receiver opens its window after reading half its buffer).
    peer.on('data', (d: Buffer) => {
      got += d.length;
      if (got < nextPause) return;
      nextPause += 256 * 1024;
      peer.pause();
      setTimeout(() => peer.resume(), 20);
    });
    try {
      peer.write(`GET /big?bytes=${bytes} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`);
      await waitUntil(() => s.answers.length === 1, CEILING_MS, 'the request reached the handler');
      assert.equal(await within(s.answers[0]!, CEILING_MS * 2), 'finished');
      await waitUntil(() => got > bytes, CEILING_MS, 'the whole answer read');
      assert.equal(s.cut, 0);
    } finally {
      peer.destroy();
    }
  });

  it('never cuts a handler that thinks longer than the limit with nothing queued', async () => {
    const s = await started(300);
    const res = await new Promise<{ status: number; body: string }>((resolve, reject) => {
      http
        .get({ host: '127.0.0.1', port: s.port, path: '/think?ms=1500', agent: false }, (r) => {
          let body = '';
          r.on('data', (d: Buffer) => (body += d.toString()));
          r.on('end', () => resolve({ status: r.statusCode!, body }));
        })
        .on('error', reject);
    });
    assert.deepEqual(res, { status: 200, body: 'thought' });
    assert.equal(s.cut, 0);
  });

  it('0 turns it off: the stuck answer stays', async () => {
    const s = await started(0);
    const peer = await connect(s.port);
    peer.pause();
    peer.write('GET /big HTTP/1.1\r\nHost: x\r\n\r\n');
    try {
      await waitUntil(() => s.answers.length === 1, CEILING_MS, 'the request reached the handler');
      // Long enough for a limit of 300 ms to have cut it many times over; the handler is still writing.
      assert.equal(await within(s.answers[0]!, 2_000), undefined);
    } finally {
      peer.destroy();
    }
  });
});
