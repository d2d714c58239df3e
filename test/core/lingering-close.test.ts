/**
 * core/lingering-close.ts on real sockets: a client still writing a body the
 * server refused reads the refusal (no EPIPE/ECONNRESET), and a peer that
 * never stops writing or never closes still loses the socket within bounds.
 */
import assert from 'node:assert/strict';
import http from 'node:http';
import net from 'node:net';
import { after, before, describe, it } from 'node:test';
import { request } from 'undici';
import { lingerOnClose } from '../../src/core/lingering-close.js';

/** Refuses every request at once, before reading its body, with or without a lingering close. */
function refusingServer(linger: { on: boolean; ms?: number; bytes?: number }): http.Server {
  return http.createServer((req, res) => {
    if (linger.on) lingerOnClose(req, linger.ms, linger.bytes);
    res.writeHead(413, { 'content-type': 'application/json', connection: 'close' });
    res.end('{"error":{"code":"HYPHAE_ERR_PAYLOAD_TOO_LARGE"}}');
  });
}

async function listen(server: http.Server): Promise<number> {
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return (server.address() as net.AddressInfo).port;
}

/** Upload bodies of `size` bytes, one after another; what each upload ended with. */
async function uploads(port: number, count: number, size: number): Promise<Record<string, number>> {
  const body = Buffer.alloc(size, 0x61);
  const seen: Record<string, number> = {};
  for (let i = 0; i < count; i++) {
    let outcome: string;
    try {
      const res = await request(`http://127.0.0.1:${port}/`, { method: 'POST', body, headers: { 'content-type': 'application/json' } });
      await res.body.text();
      outcome = `status ${res.statusCode}`;
    } catch (err) {
      outcome = (err as NodeJS.ErrnoException).code ?? (err as Error).message;
    }
    seen[outcome] = (seen[outcome] ?? 0) + 1;
  }
  return seen;
}

describe('lingering close', () => {
  const servers: http.Server[] = [];
  let lingering: number;
  let abrupt: number;

  before(async () => {
    const a = refusingServer({ on: true });
    const b = refusingServer({ on: false });
    servers.push(a, b);
    lingering = await listen(a);
    abrupt = await listen(b);
  });
  after(async () => {
    for (const s of servers) {
      s.closeAllConnections();
      await new Promise((resolve) => s.close(resolve));
    }
  });

  it('a client writing a 4 MiB body the server refused reads the 413, every time', async () => {
    const withLinger = await uploads(lingering, 30, 4 * 1024 * 1024);
    const without = await uploads(abrupt, 30, 4 * 1024 * 1024);
    console.log(`30 refused 4 MiB uploads: with lingering close ${JSON.stringify(withLinger)}; closed at once ${JSON.stringify(without)}`);
    assert.deepEqual(withLinger, { 'status 413': 30 });
  });

  it('a peer that keeps the socket open without closing loses it after the linger time', async () => {
    const server = refusingServer({ on: true, ms: 300 });
    servers.push(server);
    const port = await listen(server);
    const serverSide = new Promise<net.Socket>((resolve) => server.once('connection', resolve));
    const socket = net.connect({ port, host: '127.0.0.1', allowHalfOpen: true });
    let answer = '';
    socket.on('data', (d) => (answer += d.toString('latin1')));
    socket.on('error', () => {});
    // Half of the declared body, then silence, and the peer never ends its side.
    socket.write('POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\n' + 'a'.repeat(500));
    const held = await serverSide;
    const started = performance.now();
    await new Promise((resolve) => held.once('close', resolve));
    const ms = performance.now() - started;
    socket.destroy();
    assert.match(answer, /^HTTP\/1\.1 413 /);
    // A stall ceiling only: the socket is not held for ever by a peer that never closes.
    assert.ok(ms < 10_000, `socket closed by the server after ${ms.toFixed(0)} ms`);
  });

  it('a peer that never stops writing loses the socket after the byte cap', async () => {
    const server = refusingServer({ on: true, ms: 60_000, bytes: 256 * 1024 });
    servers.push(server);
    const port = await listen(server);
    const socket = net.connect({ port, host: '127.0.0.1', allowHalfOpen: true });
    let answer = '';
    socket.on('data', (d) => (answer += d.toString('latin1')));
    socket.on('error', () => {});
    let closed = false;
    socket.on('close', () => (closed = true));
    socket.write('POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 100000000\r\n\r\n');
    const chunk = Buffer.alloc(64 * 1024, 0x61);
    let sent = 0;
    // Bounded: at most 64 MiB, and the server's cap is 256 KiB after the answer.
    while (!closed && sent < 64 * 1024 * 1024) {
      if (!socket.write(chunk)) await new Promise((resolve) => socket.once('drain', resolve).once('close', resolve));
      sent += chunk.length;
    }
    if (!closed) await new Promise((resolve) => socket.once('close', resolve));
    assert.match(answer, /^HTTP\/1\.1 413 /);
    assert.ok(sent < 64 * 1024 * 1024, `the server cut the peer after ${sent} bytes sent`);
  });
});
