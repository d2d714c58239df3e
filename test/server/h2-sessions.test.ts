/**
 * The sessions of a wrapped HTTP/2 server (src/server/h2-sessions.ts) on real
 * sockets: drain (GOAWAY first, the stream in flight finishes, the client
 * opens no new stream, then the server closes), and the attacker's pass for
 * what HTTP/2 adds: a session that says nothing, streams beyond
 * maxConcurrentStreams (advertised by the mesh: Node's own is 2^32-1), a header block beyond the limit (HTTP/1.1's 16 KiB,
 * not nghttp2's 64 KiB), PING and SETTINGS floods from a peer that never reads
 * the acknowledgements (nghttp2's flood bound cuts it; Node has no knob of its
 * own, so this pins the behaviour we rely on), a stream whose
 * request body never ends.
 */
import assert from 'node:assert/strict';
import http2, { type Http2Server } from 'node:http2';
import { after, before, describe, it } from 'node:test';
import { wrappedState } from '../../src/server/wrap-server.js';
import { FRAME, frame, RawH2, requestFrames } from '../helpers/h2-frames.js';
import { h2Request, listenWrapped, sessionClosed } from '../helpers/h2-server.js';

describe('drain of a wrapped HTTP/2 server', () => {
  it('GOAWAY first: the stream in flight finishes, no new stream is opened, then the server closes', async () => {
    const held: (() => void)[] = [];
    let handled = 0;
    const server = http2.createServer((req, res) => {
      handled++;
      if (req.url === '/slow') held.push(() => res.end('slow done'));
      else res.end('ok');
    });
    const port = await listenWrapped(server, {}, { drainDelayMs: 0, gracePeriodMs: 5_000 });
    const session = http2.connect(`http://127.0.0.1:${port}`);
    session.on('error', () => {});
    assert.equal((await h2Request(session, { ':path': '/warm' })).status, 200);
    const slow = h2Request(session, { ':path': '/slow' });
    while (held.length === 0) await new Promise((r) => setImmediate(r));

    const goaway = new Promise<number>((resolve) => session.once('goaway', (code: number) => resolve(code)));
    const closed = new Promise<void>((resolve) => server.close(() => resolve()));
    assert.equal(await goaway, http2.constants.NGHTTP2_NO_ERROR, 'the client is told GOAWAY (no error) while its stream is in flight');
    // A client that heard GOAWAY opens no new stream on the session.
    await assert.rejects(h2Request(session, { ':path': '/after' }), /GOAWAY|closed|destroyed|ERR_HTTP2/i);
    held[0]!();
    const reply = await slow;
    assert.deepEqual([reply.status, reply.body], [200, 'slow done'], 'the stream in flight at close finished');
    await closed;
    await sessionClosed(session);
    assert.equal(handled, 2, 'nothing reached the handler after GOAWAY');
  });
});

describe('attacker pass on a wrapped HTTP/2 server', () => {
  let server: Http2Server;
  let port: number;
  const held: (() => void)[] = [];
  let handled = 0;

  before(async () => {
    server = http2.createServer((req, res) => {
      handled++;
      // Holds every stream open, as a slow handler under a flood would.
      held.push(() => res.end('ok'));
    });
    port = await listenWrapped(server, {}, { headersTimeoutMs: 300, requestTimeoutMs: 600, maxConcurrentStreams: 10, gracePeriodMs: 500 });
  });
  after(async () => {
    for (const release of held) release();
    await new Promise<void>((r) => server.close(() => r()));
  });

  it('a peer that connects and says nothing, or only its preface, is cut at the header deadline', async () => {
    const stats = wrappedState(server)!.h2!;
    const cutBefore = stats.silentCut;
    const silent = new RawH2(port);
    const prefaceOnly = new RawH2(port);
    await Promise.all([silent.connected(), prefaceOnly.connected()]);
    prefaceOnly.greet();
    const started = performance.now();
    await Promise.all([silent.closed, prefaceOnly.closed]);
    const ms = performance.now() - started;
    assert.ok(ms >= 200, `not before the deadline (${Math.round(ms)} ms)`);
    assert.equal(stats.silentCut, cutBefore + 2);
  });

  it('streams beyond maxConcurrentStreams: the session is ended (GOAWAY with an error) and the handler sees at most the limit', async () => {
    const before = handled;
    const peer = new RawH2(port);
    await peer.connected();
    peer.greet();
    await peer.until((f) => f.some((x) => x.type === FRAME.SETTINGS && x.payload.length > 0));
    const settings = peer.frames.find((x) => x.type === FRAME.SETTINGS && x.payload.length > 0)!.payload;
    let advertised: number | undefined;
    for (let i = 0; i + 6 <= settings.length; i += 6) if (settings.readUInt16BE(i) === 0x3) advertised = settings.readUInt32BE(i + 2);
    assert.equal(advertised, 10, 'SETTINGS_MAX_CONCURRENT_STREAMS advertised (Node alone would say 2^32-1)');
    // The peer acknowledges the limit, then opens 30 streams at once regardless.
    const frames: Buffer[] = [frame(FRAME.SETTINGS, 0x1, 0)];
    for (let i = 0; i < 30; i++) frames.push(requestFrames(1 + 2 * i, [[':path', `/s${i}`]]));
    peer.socket.write(Buffer.concat(frames));
    await peer.closed;
    // nghttp2 takes a stream over an acknowledged limit as a connection error (RFC 9113 5.1.2 allows either):
    // Node 20 answers INTERNAL_ERROR, Node 22 and later PROTOCOL_ERROR; never NO_ERROR.
    const goaway = peer.frames.find((x) => x.type === FRAME.GOAWAY);
    assert.ok(goaway, 'GOAWAY sent');
    assert.notEqual(goaway.payload.readUInt32BE(4), http2.constants.NGHTTP2_NO_ERROR);
    assert.ok(handled - before <= 10, `${handled - before} streams reached the handler`);
  });

  it('a header block beyond the limit is refused without reaching the handler', async () => {
    const before = handled;
    const peer = new RawH2(port);
    await peer.connected();
    peer.greet();
    peer.socket.write(
      requestFrames(
        1,
        [
          [':path', '/big'],
          ['x-big', 'a'.repeat(200_000)],
        ],
        true,
      ),
    );
    // Whatever nghttp2 answers (a reset of the stream, GOAWAY, a 431), it answers; the connection may also end.
    await peer.until((f) => f.some((x) => x.type === FRAME.RST_STREAM || x.type === FRAME.GOAWAY || (x.type === FRAME.HEADERS && x.streamId === 1)));
    assert.ok(peer.frames.some((x) => x.type === FRAME.RST_STREAM || x.type === FRAME.GOAWAY || x.type === FRAME.HEADERS) || peer.socket.destroyed);
    assert.equal(handled, before, 'the handler never saw it');
    peer.close();
  });

  it('a stream whose request body never ends is answered 408 and reset at the request deadline', async () => {
    const stats = wrappedState(server)!.h2!;
    const timedOutBefore = stats.streamsTimedOut;
    const session = http2.connect(`http://127.0.0.1:${port}`);
    session.on('error', () => {});
    const stream = session.request({ ':method': 'POST', ':path': '/upload' }, { endStream: false });
    stream.write('part of a body');
    const status = await new Promise<number>((resolve) => stream.once('response', (h) => resolve(Number(h[':status']))));
    assert.equal(status, 408);
    await new Promise((r) => stream.once('close', r));
    assert.equal(stats.streamsTimedOut, timedOutBefore + 1);
    session.destroy();
  });
});

describe('the header limit of a wrapped HTTP/2 server', () => {
  it("is HTTP/1.1's 16 KiB, not nghttp2's 64 KiB: a 20 KiB header block is refused before the handler, the session goes on", async () => {
    const seen: string[] = [];
    const server = http2.createServer((req, res) => {
      seen.push(req.url);
      res.end('ok');
    });
    const port = await listenWrapped(server, {}, { gracePeriodMs: 500 });
    const session = http2.connect(`http://127.0.0.1:${port}`);
    session.on('error', () => {});
    try {
      assert.equal((await h2Request(session, { ':path': '/8k', 'x-big': 'a'.repeat(8_000) })).status, 200);
      await assert.rejects(h2Request(session, { ':path': '/20k', 'x-big': 'a'.repeat(20_000) }), /ENHANCE_YOUR_CALM|ERR_HTTP2_STREAM_ERROR/);
      assert.equal((await h2Request(session, { ':path': '/after' })).status, 200, 'one refused stream does not end the session');
      assert.deepEqual(seen, ['/8k', '/after']);
    } finally {
      session.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    }
  });

  it("keeps the server's own maxHeaderListSize", async () => {
    const server = http2.createServer({ settings: { maxHeaderListSize: 65_535 } }, (_req, res) => res.end('ok'));
    const port = await listenWrapped(server, {}, { gracePeriodMs: 500 });
    const session = http2.connect(`http://127.0.0.1:${port}`);
    session.on('error', () => {});
    try {
      assert.equal((await h2Request(session, { ':path': '/20k', 'x-big': 'a'.repeat(20_000) })).status, 200);
    } finally {
      session.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    }
  });
});

describe('control-frame floods on a wrapped HTTP/2 server', () => {
  for (const [kind, one] of [
    ['PING', frame(FRAME.PING, 0, 0, Buffer.alloc(8))],
    ['SETTINGS', frame(FRAME.SETTINGS, 0, 0, Buffer.from([0, 3, 0, 0, 0, 100]))],
  ] as const) {
    it(`a peer that floods ${kind} frames and never reads the acknowledgements is cut (nghttp2's flood bound), and the server goes on`, async () => {
      const server = http2.createServer((_req, res) => res.end('ok'));
      const port = await listenWrapped(server, {}, { gracePeriodMs: 500 });
      const peer = new RawH2(port);
      try {
        await peer.connected();
        peer.greet();
        // Reads nothing from here on: every acknowledgement the server owes stays queued on its side.
        peer.socket.pause();
        const batch = Buffer.concat(Array.from({ length: 1_000 }, () => one));
        const started = performance.now();
        // Bounded: 2,000 batches (about 34 MB) or 20 s; the server cuts the peer long before either (about 240 batches measured).
        for (let i = 0; i < 2_000 && !peer.socket.destroyed && performance.now() - started < 20_000; i++) {
          if (!peer.socket.write(batch)) await Promise.race([new Promise((r) => peer.socket.once('drain', r)), peer.closed, new Promise((r) => setTimeout(r, 200))]);
        }
        await Promise.race([peer.closed, new Promise((r) => setTimeout(r, 5_000))]);
        assert.ok(peer.socket.destroyed, `the flooding peer is still connected after ${Math.round(performance.now() - started)} ms`);
        const session = http2.connect(`http://127.0.0.1:${port}`);
        session.on('error', () => {});
        assert.equal((await h2Request(session, { ':path': '/' })).status, 200);
        session.destroy();
      } finally {
        peer.close();
        await new Promise<void>((resolve) => server.close(() => resolve()));
      }
    });
  }
});
