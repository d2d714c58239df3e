/**
 * A wrapped server's listener against peers that hold connections without
 * finishing anything (issue 13, defects 1 and 3), on real sockets with the
 * mTLS front in front of a user's http.Server: the handshake deadline (from
 * accept, first byte included), a peer half-closing before its first byte,
 * header and request timeouts over mTLS and plaintext, the connection cap,
 * and which timeouts wrapServer applies to a server it did not create. A peer
 * that finishes its handshake (or sends a first plaintext byte) and then says
 * nothing is answered 408 at the header timeout: Node counts a connection's
 * first request from the moment the front hands the socket to HTTP.
 */
import assert from 'node:assert/strict';
import { generateKeyPairSync } from 'node:crypto';
import { rm } from 'node:fs/promises';
import http from 'node:http';
import net, { type AddressInfo } from 'node:net';
import tls from 'node:tls';
import { after, before, describe, it } from 'node:test';
import type { Logger } from '../../src/core/logger.js';
import { FileCaStateStore } from '../../src/control-plane/ca/ca-state.js';
import { CertificateAuthority } from '../../src/control-plane/ca/certificate-authority.js';
import { frontStats } from '../../src/server/mtls-front.js';
import { wrapServer, type WrapServerOptions } from '../../src/server/wrap-server.js';
import { makeTempDir } from '../helpers/control-plane.js';
import { TestInbound, type Creds } from '../helpers/inbound-tls.js';
import { hostilePeer, requestsAcrossIdle, slowRequest, streamBig, waitUntil, watchPeer, within, type PeerKind } from '../helpers/hostile-peers.js';

/** Warnings and infos, kept for assertions. */
class RecordingLogger implements Logger {
  lines: { level: string; msg: string }[] = [];
  debug() {}
  info(msg: string) {
    this.lines.push({ level: 'info', msg });
  }
  warn(msg: string) {
    this.lines.push({ level: 'warn', msg });
  }
  error(msg: string) {
    this.lines.push({ level: 'error', msg });
  }
  count(re: RegExp): number {
    return this.lines.filter((l) => re.test(l.msg)).length;
  }
}

/** /big's size: more than every buffer between the handler and a peer that reads nothing (TLS's included). */
const BIG_BYTES = 64 * 1024 * 1024;
/** How each /big answer ended at the handler. */
const bigAnswers: Promise<'finished' | 'closed early'>[] = [];

interface Wrapped {
  server: http.Server;
  port: number;
  logger: RecordingLogger;
  connections(): Promise<number>;
}

describe('wrapped server listener', () => {
  let dir: string;
  let ca: CertificateAuthority;
  let inbound: TestInbound;
  let client: Creds;
  const servers: http.Server[] = [];
  const issue = (service: string): Creds => {
    const { publicKey, privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
    const s = ca.signWorkload(publicKey.export({ type: 'spki', format: 'pem' }) as string, 'default', service);
    return { key: privateKey.export({ type: 'pkcs8', format: 'pem' }) as string, cert: s.certificate };
  };

  const wrapped = async (options: WrapServerOptions, serverOptions: http.ServerOptions = {}): Promise<Wrapped> => {
    const logger = new RecordingLogger();
    const server = wrapServer(
      // The answer comes after the whole body, as an application that reads it would send it.
      http.createServer(serverOptions, (req, res) => {
        if (req.url === '/big') return void bigAnswers.push(streamBig(res, BIG_BYTES));
        req.on('end', () => res.end('ok'));
        req.resume();
      }),
      { registrar: async () => undefined, logger, defaults: { labels: {}, drainDelayMs: 0, gracePeriodMs: 1_000 }, tls: async () => inbound },
      { register: false, ...options },
    );
    servers.push(server);
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const connections = () => new Promise<number>((resolve, reject) => server.getConnections((err, n) => (err ? reject(err) : resolve(n))));
    return { server, port: (server.address() as AddressInfo).port, logger, connections };
  };

  /** An mTLS client with the workload certificate of "web", half-open when the server ends its side. */
  const mtlsClient = (port: number): Promise<tls.TLSSocket> =>
    new Promise((resolve, reject) => {
      const options: tls.ConnectionOptions & { allowHalfOpen: boolean } = {
        port,
        host: '127.0.0.1',
        ...client,
        ca: ca.bundle.roots as string[],
        checkServerIdentity: () => undefined,
        allowHalfOpen: true,
      };
      const s = tls.connect(options);
      s.once('secureConnect', () => resolve(s));
      s.once('error', reject);
    });

  const plainClient = (port: number): Promise<net.Socket> =>
    new Promise((resolve, reject) => {
      const s = net.connect({ port, host: '127.0.0.1', allowHalfOpen: true });
      s.once('connect', () => resolve(s));
      s.once('error', reject);
    });

  before(async () => {
    dir = await makeTempDir('hyphae-listener-');
    ca = await CertificateAuthority.open({ store: new FileCaStateStore(dir), trustDomain: 'td', certTtlMs: 3_600_000, log: () => {} });
    inbound = new TestInbound(issue('api'), [...ca.bundle.roots]);
    client = issue('web');
  });
  after(async () => {
    for (const s of servers) s.closeAllConnections();
    await Promise.all(servers.map((s) => new Promise<void>((r) => s.close(() => r()))));
    await rm(dir, { recursive: true, force: true });
  });

  it('destroys connections that do not finish their handshake in time, and one that half-closes before its first byte at once', async () => {
    inbound.set('STRICT');
    // Long enough that "at once" and "at the deadline" stay apart on a busy machine.
    const deadline = 3_000;
    const w = await wrapped({ tlsHandshakeTimeoutMs: deadline });
    const slowKinds: PeerKind[] = ['silent', 'partial-hello', 'slow-hello'];
    // The dribbling one sends a byte every 100 ms: an idle timer would never fire.
    const slow = await Promise.all(slowKinds.map((k) => hostilePeer(w.port, k, 100)));
    const quick = await Promise.all((['half-close', 'partial-hello-half-close', 'garbage'] as PeerKind[]).map((k) => hostilePeer(w.port, k)));
    try {
      const quickTimes = await within(Promise.all(quick.map((p) => p.endedByServer)), 10_000);
      assert.ok(
        quickTimes,
        `not let go: ${quick
          .filter((p) => !p.ended())
          .map((p) => p.kind)
          .join(', ')}`,
      );
      for (const [i, t] of quickTimes.entries()) assert.ok(t < deadline - 1_000, `${quick[i]!.kind} let go only after ${Math.round(t)} ms`);
      const slowTimes = await within(Promise.all(slow.map((p) => p.endedByServer)), 10_000);
      assert.ok(
        slowTimes,
        `not cut within 10 s: ${slow
          .filter((p) => !p.ended())
          .map((p) => p.kind)
          .join(', ')}`,
      );
      for (const [i, t] of slowTimes.entries()) assert.ok(t >= deadline - 100, `${slow[i]!.kind} cut after ${Math.round(t)} ms, before the deadline`);
      // The peers still hold their ends: the server's count drops only if it destroyed its sockets.
      await waitUntil(async () => (await w.connections()) === 0 && frontStats(w.server)!.pending === 0, 5_000, 'every socket destroyed');
      assert.ok(frontStats(w.server)!.timedOut >= slowKinds.length, `timedOut=${frontStats(w.server)!.timedOut}`);
    } finally {
      for (const p of [...slow, ...quick]) p.close();
    }
  });

  for (const mode of ['STRICT', 'PERMISSIVE'] as const) {
    const over = mode === 'STRICT' ? 'mTLS' : 'plaintext';
    it(`answers a slowloris over ${over} 408 at the header timeout and destroys the socket (${mode})`, async () => {
      inbound.set(mode);
      const w = await wrapped({ headersTimeoutMs: 1_000, requestTimeoutMs: 2_000 });
      const socket = mode === 'STRICT' ? await mtlsClient(w.port) : await plainClient(w.port);
      const slow = slowRequest(socket, 'GET / HTTP/1.1\r\nHost: x\r\n', `X-Slow: ${'a'.repeat(100)}`, 100);
      try {
        const ended = await within(slow.endedByServer, 8_000);
        assert.ok(ended !== undefined, `no answer within 8 s: ${JSON.stringify(slow.received())}`);
        assert.match(slow.received(), /^HTTP\/1\.1 408 /);
        assert.ok(ended >= 900, `ended after ${ended} ms`);
        await waitUntil(async () => (await w.connections()) === 0, 5_000, 'the socket destroyed while the peer keeps its end');
      } finally {
        slow.close();
      }
    });
  }

  it('answers a body slower than the request timeout 408 over mTLS', async () => {
    inbound.set('STRICT');
    const w = await wrapped({ headersTimeoutMs: 1_000, requestTimeoutMs: 2_000 });
    const slow = slowRequest(await mtlsClient(w.port), 'POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n', 'x'.repeat(90), 100);
    try {
      const ended = await within(slow.endedByServer, 8_000);
      assert.ok(ended !== undefined, `no answer within 8 s: ${JSON.stringify(slow.received())}`);
      assert.match(slow.received(), /^HTTP\/1\.1 408 /);
      assert.ok(ended >= 1_800, `ended after ${ended} ms`);
      await waitUntil(async () => (await w.connections()) === 0, 5_000, 'the socket destroyed');
    } finally {
      slow.close();
    }
  });

  it('closes connections over maxConnections at accept, warns once, keeps the open ones, and says when it clears', async () => {
    inbound.set('STRICT');
    const w = await wrapped({ maxConnections: 3 });
    const open = await Promise.all([1, 2, 3].map(() => mtlsClient(w.port)));
    const refused = await Promise.all(
      [1, 2, 3, 4].map(
        () =>
          new Promise<string>((resolve) => {
            mtlsClient(w.port).then(
              (s) => {
                s.destroy();
                resolve('handshake done');
              },
              (err: NodeJS.ErrnoException) => resolve(err.code ?? err.message),
            );
          }),
      ),
    );
    assert.ok(
      refused.every((r) => r !== 'handshake done'),
      refused.join(', '),
    );
    assert.equal(w.logger.count(/connection cap reached: 3 connections open/), 1, JSON.stringify(w.logger.lines));
    for (const s of open) {
      const answer = new Promise<string>((resolve) => s.once('data', (d: Buffer) => resolve(d.toString('latin1'))));
      s.write('GET / HTTP/1.1\r\nHost: x\r\n\r\n');
      assert.match(await answer, /^HTTP\/1\.1 200 /);
    }
    for (const s of open) s.destroy();
    await waitUntil(() => w.logger.count(/connection cap cleared/) === 1, 10_000, 'the cap cleared');
    const again = await mtlsClient(w.port);
    again.destroy();
    assert.equal(w.logger.count(/connection cap reached/), 1);
    assert.equal(w.server.maxConnections, 3);
  });

  it('answers peers that finish their handshake (or send a blank line) and then say nothing 408 at the header timeout, so they cannot hold the cap', async () => {
    inbound.set('PERMISSIVE');
    // 3 s rather than 1 s: the cap must still be full when the fourth connects, on a busy machine too.
    const w = await wrapped({ headersTimeoutMs: 3_000, requestTimeoutMs: 6_000, maxConnections: 3 });
    // A blank line is handed to HTTP (its first byte is plaintext), and HTTP skips it before a request line.
    const blank = await plainClient(w.port);
    blank.write('\r\n');
    const readers = [watchPeer(await mtlsClient(w.port)), watchPeer(blank)];
    // It reads nothing: its unread 408 keeps its own socket from ever emitting 'end', only the server's count tells.
    const mute = await mtlsClient(w.port);
    mute.on('error', () => {});
    try {
      await assert.rejects(mtlsClient(w.port), 'the silent peers fill the cap: one more is closed at accept');
      const ended = await within(Promise.all(readers.map((r) => r.endedByServer)), 15_000);
      assert.ok(ended, `a silent peer is still connected after 15 s; they got ${JSON.stringify(readers.map((r) => r.received()))}`);
      for (const [i, r] of readers.entries()) {
        assert.match(r.received(), /^HTTP\/1\.1 408 /, ['mTLS', 'blank line'][i]);
        assert.ok(ended[i]! >= 2_900, `${['mTLS', 'blank line'][i]} cut after ${Math.round(ended[i]!)} ms, before the 3 s header timeout`);
      }
      await waitUntil(async () => (await w.connections()) === 0, 5_000, 'every silent socket destroyed');
      assert.equal(mute.destroyed, false, 'the peer that reads nothing still holds its end');
      const { statuses } = await requestsAcrossIdle(await mtlsClient(w.port), 'GET / HTTP/1.1\r\nHost: x\r\n\r\n', 0, 1);
      assert.deepEqual(statuses, [200], 'a client gets in after them');
    } finally {
      for (const r of readers) r.close();
      mute.destroy();
    }
  });

  it('keeps an mTLS keep-alive connection that idles between requests longer than the header and request timeouts', async () => {
    inbound.set('STRICT');
    const w = await wrapped({ headersTimeoutMs: 1_000, requestTimeoutMs: 2_000 });
    // 2.5 s: past the 2 s request timeout, within the 75 s keepAliveTimeout.
    const { statuses, endedByServer } = await requestsAcrossIdle(await mtlsClient(w.port), 'GET / HTTP/1.1\r\nHost: x\r\n\r\n', 2_500);
    assert.deepEqual(statuses, [200, 200, 200]);
    assert.equal(endedByServer, false);
  });

  it('cuts an mTLS peer that asks for a large answer and reads none of it at the send timeout (nginx send_timeout)', async () => {
    inbound.set('STRICT');
    const w = await wrapped({ sendTimeoutMs: 1_000 });
    const socket = await mtlsClient(w.port);
    socket.pause();
    socket.on('error', () => {});
    const before = bigAnswers.length;
    socket.write('GET /big HTTP/1.1\r\nHost: x\r\n\r\n');
    try {
      await waitUntil(() => bigAnswers.length > before, 10_000, 'the request reached the handler');
      // The bound catches a stall; the cut comes about 1 s after the last byte went out.
      assert.equal(await within(bigAnswers[before]!, 30_000), 'closed early', 'the wrapped server let go of the stuck answer');
      await waitUntil(async () => (await w.connections()) === 0, 5_000, 'the socket destroyed');
    } finally {
      socket.destroy();
    }
  });

  it("applies the mesh's header, request and keep-alive timeouts unless the server was created with its own", async () => {
    const plain = await wrapped({});
    assert.equal(plain.server.headersTimeout, 10_000);
    assert.equal(plain.server.requestTimeout, 30_000);
    const own = await wrapped({}, { headersTimeout: 20_000, requestTimeout: 120_000 });
    assert.equal(own.server.headersTimeout, 20_000, "the server's own choice is kept");
    assert.equal(own.server.requestTimeout, 120_000);
    const given = await wrapped({ headersTimeoutMs: 3_000, requestTimeoutMs: 4_000 }, { requestTimeout: 120_000 });
    assert.equal(given.server.headersTimeout, 3_000, 'options win');
    assert.equal(given.server.requestTimeout, 4_000);
    // Keep-alive: idle mesh connections are kept 75 s (an mTLS handshake each to re-make), unless the owner chose.
    assert.equal(plain.server.keepAliveTimeout, 75_000);
    const ownIdle = await wrapped({}, { keepAliveTimeout: 2_000 });
    assert.equal(ownIdle.server.keepAliveTimeout, 2_000, "the server's own keep-alive timeout is kept");
    assert.throws(
      () => wrapServer(http.createServer(), { registrar: async () => undefined, logger: new RecordingLogger(), defaults: { labels: {}, drainDelayMs: 0, gracePeriodMs: 0 } }, { maxConnections: -1 }),
      /maxConnections must be a number >= 0/,
    );
  });
});
