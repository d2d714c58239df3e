/**
 * The control plane's listener against peers that hold connections without
 * finishing anything (issue 13, defects 1 and 3), with the control plane as a
 * child process and its descriptors read from /proc/<pid>/fd:
 *
 * - under `prlimit --nofile=200`, more never-handshaking TLS peers than the
 *   limit: the process keeps answering and its descriptors return to the
 *   baseline (the handshake used to time out without the socket being
 *   destroyed, and the peer's leaving then left it in CLOSE-WAIT for ever);
 * - the handshake deadline, counted from accept (a peer dribbling its
 *   ClientHello does not reset it);
 * - the connection cap: excess connections closed at accept, one log line when
 *   reached and one when cleared, open connections unaffected;
 * - a client certificate chain over OpenSSL's 100 KiB limit (the API asks every
 *   client for a certificate and may be sent any chain): refused in the
 *   handshake, nothing answered on it, the process unharmed (a 5-copy chain of
 *   the same certificate is answered: the size is what is refused);
 * - slow clients over TLS (our own and `openssl s_client`): 408, then the
 *   socket is destroyed even though the peer never closes its side;
 * - silent peers, over TLS after their handshake and in plain HTTP (the
 *   `--insecure` API and the metrics listener): answered 408 at the header
 *   timeout, which Node counts from the moment HTTP gets the connection, and
 *   destroyed, so they cannot hold the connection cap; a keep-alive client idle
 *   between requests longer than those timeouts is not cut (keepAliveTimeout).
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import net from 'node:net';
import tls from 'node:tls';
import { after, before, describe, it } from 'node:test';
import { readFile } from 'node:fs/promises';
import { call, makeTempDir, startControlPlane, type RunningControlPlane } from '../helpers/control-plane.js';
import { Pki } from '../helpers/pki.js';
import { fdCount, hostilePeer, requestsAcrossIdle, slowRequest, waitUntil, watchPeer, within, type Peer, type PeerKind } from '../helpers/hostile-peers.js';

const FD_LIMIT = 200;

/** A TLS client that trusts the control plane and stays half-open when the server ends its side. */
function tlsClient(cp: RunningControlPlane): Promise<tls.TLSSocket> {
  return new Promise((resolve, reject) => {
    // allowHalfOpen is passed on to the TLSSocket, though ConnectionOptions does not declare it.
    const options: tls.ConnectionOptions & { allowHalfOpen: boolean } = { port: cp.port, host: '127.0.0.1', servername: 'localhost', ca: cp.ca, allowHalfOpen: true };
    const s = tls.connect(options);
    s.once('secureConnect', () => resolve(s));
    s.once('error', reject);
  });
}

/** A plain TCP client, half-open when the server ends its side. */
function plainClient(port: number): Promise<net.Socket> {
  return new Promise((resolve, reject) => {
    const s = net.connect({ port, host: '127.0.0.1', allowHalfOpen: true });
    s.once('connect', () => resolve(s));
    s.once('error', reject);
  });
}

/** One more TLS connection: 'handshake done' (then closed by us), or the error that ended it (closed at accept). */
function handshakeAttempt(cp: RunningControlPlane): Promise<string> {
  return new Promise<string>((resolve) => {
    const s = tls.connect({ port: cp.port, host: '127.0.0.1', servername: 'localhost', ca: cp.ca });
    s.once('secureConnect', () => {
      s.destroy();
      resolve('handshake done');
    });
    s.once('error', (err: NodeJS.ErrnoException) => resolve(err.code ?? err.message));
  });
}

/** The silence test's pause between requests: past the 2 s request timeout (and its 100 ms check), within the 5 s keep-alive timeout. */
const IDLE_MS = 2_500;

function errorCode(response: string): string | undefined {
  const body = response.slice(response.indexOf('\r\n\r\n') + 4);
  try {
    return (JSON.parse(body) as { error?: { code?: string } }).error?.code;
  } catch {
    return undefined;
  }
}

describe('control plane listener, default limits, under an open-file limit of 200', () => {
  let cp: RunningControlPlane;
  let baseline: number;

  before(async () => {
    cp = await startControlPlane({ fdLimit: FD_LIMIT });
    baseline = fdCount(cp.child.proc.pid!);
  });
  after(async () => {
    await cp?.stop();
  });

  it('gives back every descriptor of more never-handshaking TLS peers than the fd limit, and /v1/health answers', async () => {
    const pid = cp.child.proc.pid!;
    const kinds: PeerKind[] = ['silent', 'partial-hello', 'partial-hello-half-close', 'slow-hello', 'garbage'];
    // 260 > 200: without a cap below the limit, accept() would fail with EMFILE.
    const peers: Peer[] = await Promise.all(Array.from({ length: 260 }, (_, i) => hostilePeer(cp.port, kinds[i % kinds.length]!, 1_000)));
    // Each is cut by the server: at once (over the cap, garbage, half-closed) or at the 5 s handshake deadline.
    // Bounded so that a server that never cuts them still gets to the assertions below; then every peer leaves.
    await within(Promise.all(peers.map((p) => p.endedByServer)), 20_000);
    const held = peers.filter((p) => !p.ended()).map((p) => p.kind);
    for (const p of peers) p.close();
    await waitUntil(() => fdCount(pid) <= baseline, 15_000, `descriptors back to the baseline of ${baseline} after the peers left (now ${fdCount(pid)})`);
    assert.deepEqual(held, [], 'peers the server never let go of');
    const health = await call<{ status: string }>(cp.url, 'GET', '/v1/health');
    assert.equal(health.status, 200);
    assert.deepEqual(
      cp.child.lines.filter((l) => /EMFILE/.test(l)),
      [],
      'the cap kept accept() below the fd limit',
    );
    assert.equal(cp.child.lines.filter((l) => /connection cap reached/.test(l)).length, 1, cp.child.lines.join('\n'));
    assert.match(cp.child.lines.join('\n'), /limits max-connections=136 \(below the open-file limit 200\)/);
  });

  it('answers a slowloris over TLS 408 at the 10 s header timeout, and destroys the socket the peer keeps open', async () => {
    const pid = cp.child.proc.pid!;
    await waitUntil(() => fdCount(pid) <= baseline, 15_000, 'no connection left from before');
    const socket = await tlsClient(cp);
    const slow = slowRequest(socket, 'GET /v1/health HTTP/1.1\r\nHost: x\r\n', `X-Slow: ${'a'.repeat(200)}`, 250);
    try {
      const ended = await within(slow.endedByServer, 25_000);
      assert.ok(ended !== undefined, `no answer within 25 s; received ${JSON.stringify(slow.received())}`);
      assert.match(slow.received(), /^HTTP\/1\.1 408 /);
      assert.equal(errorCode(slow.received()), 'HYPHAE_ERR_REQUEST_TIMEOUT');
      assert.ok(ended >= 9_000, `ended after ${ended} ms, before the 10 s header timeout`);
      // Our end stays open: only the server's destroy() gives its descriptor back.
      await waitUntil(() => fdCount(pid) <= baseline, 5_000, `the server's descriptor given back (now ${fdCount(pid)}, baseline ${baseline})`);
    } finally {
      slow.close();
    }
  });
});

describe('control plane listener, low limits', () => {
  let cp: RunningControlPlane;
  let baseline: number;
  const MAX = 6;

  before(async () => {
    cp = await startControlPlane({
      args: ['--tls-handshake-timeout', '1s', '--headers-timeout', '1s', '--request-timeout', '2s', '--send-timeout', '1s', '--max-connections', String(MAX)],
    });
    baseline = fdCount(cp.child.proc.pid!);
  });
  after(async () => {
    await cp?.stop();
  });

  it('destroys a connection that has not finished its handshake 1 s after accept, however it dribbles', async () => {
    const pid = cp.child.proc.pid!;
    // The slow one sends a byte every 200 ms: Node's own (idle) handshake timeout would never fire.
    const peers = await Promise.all((['silent', 'partial-hello', 'slow-hello'] as const).map((k) => hostilePeer(cp.port, k, 200)));
    const halfClosed = await hostilePeer(cp.port, 'partial-hello-half-close');
    try {
      const times = await within(Promise.all(peers.map((p) => p.endedByServer)), 10_000);
      assert.ok(
        times,
        `not all cut within 10 s: ${peers
          .filter((p) => !p.ended())
          .map((p) => p.kind)
          .join(', ')}`,
      );
      for (const [i, t] of times.entries()) assert.ok(t >= 900 && t < 8_000, `${peers[i]!.kind} cut after ${Math.round(t)} ms`);
      assert.ok(await within(halfClosed.endedByServer, 10_000), 'the half-closed peer is let go');
      // Every peer still holds its end: the server's descriptors come back only if it destroyed its sockets.
      await waitUntil(() => fdCount(pid) <= baseline, 5_000, `descriptors back to ${baseline} (now ${fdCount(pid)})`);
    } finally {
      for (const p of [...peers, halfClosed]) p.close();
    }
    assert.match(cp.child.lines.join('\n'), /reject tls from .*ERR_TLS_HANDSHAKE_TIMEOUT/);
  });

  it('answers a peer that finishes its TLS handshake and then sends nothing 408 at the header timeout, and destroys the socket', async () => {
    const pid = cp.child.proc.pid!;
    await waitUntil(() => fdCount(pid) <= baseline, 15_000, 'no connection left from before');
    // Node times a connection's first request from the moment HTTP gets the socket (here: the end of the
    // handshake), not from its first byte. One peer reads what it is sent; the other reads nothing, and its
    // unread 408 keeps its own socket from ever emitting 'end' or 'close': only the server's descriptors tell
    // that the server let go of it.
    const reader = watchPeer(await tlsClient(cp));
    const mute = await tlsClient(cp);
    mute.on('error', () => {});
    try {
      const ended = await within(reader.endedByServer, 15_000);
      assert.ok(ended !== undefined, `the silent peer is still connected after 15 s; it got ${JSON.stringify(reader.received())}`);
      assert.match(reader.received(), /^HTTP\/1\.1 408 /);
      assert.equal(errorCode(reader.received()), 'HYPHAE_ERR_REQUEST_TIMEOUT');
      assert.ok(ended >= 900, `cut after ${Math.round(ended)} ms, before the 1 s header timeout`);
      await waitUntil(() => fdCount(pid) <= baseline, 5_000, `descriptors back to ${baseline} (now ${fdCount(pid)})`);
      assert.equal(mute.destroyed, false, 'the peer that reads nothing still holds its end');
    } finally {
      reader.close();
      mute.destroy();
    }
  });

  it("cuts a watch stream whose peer stopped reading at --send-timeout, before the hub's byte limit would", async () => {
    const pid = cp.child.proc.pid!;
    const watchCloses = () => cp.child.lines.filter((l) => l.includes('watch close stream=')).length;
    const closesBefore = watchCloses();
    const socket = await tlsClient(cp);
    // A frozen workload: its watch stream opened, then nothing read (a SIGSTOPped process looks the same).
    socket.pause();
    socket.on('error', () => {});
    let closed = false;
    // Half-open (tlsClient's): the server's FIN shows as 'end', a reset as 'close'.
    socket.once('end', () => (closed = true));
    socket.once('close', () => (closed = true));
    socket.write(`GET /v1/watch?services=stall HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${cp.adminToken}\r\nAccept: text/event-stream\r\n\r\n`);
    // Each apply changes a Route of ~0.9 MiB on the followed service: its snapshot goes to the stream. 8 of
    // them: more than the kernel's buffers on the way take (~4 MiB on loopback), less than the 8 MiB the watch
    // hub lets a stream leave unread before it drops it, so only the send timeout can end this one.
    const route = (round: number) => ({
      apiVersion: 'hyphae.dev/v1',
      kind: 'Route',
      metadata: { name: 'stall-big' },
      spec: {
        parentRefs: [{ name: 'stall' }],
        rules: Array.from({ length: 64 }, (_, r) => ({
          matches: [{ headers: Array.from({ length: 14 }, (_, h) => ({ name: `x-h${h}`, value: `${round}-${r}-`.padEnd(1000, 'v') })) }],
          backendRefs: [{ name: 'stall' }],
        })),
      },
    });
    try {
      for (let round = 0; round < 8; round++) {
        const items = [{ apiVersion: 'hyphae.dev/v1', kind: 'Service', metadata: { name: 'stall' }, spec: {} }, route(round)];
        const res = await call(cp.url, 'PUT', '/v1/resources', { items });
        assert.equal(res.status, 200, res.text.slice(0, 500));
      }
      // The server lets go of its end (the hub sees its stream close); the peer, paused, learns it when it reads.
      await waitUntil(() => watchCloses() > closesBefore, 30_000, 'the stuck watch stream cut');
      assert.doesNotMatch(cp.child.lines.join('\n'), /watch drop/, 'cut by the send timeout, not the byte limit');
      // The log says why: the peer stopped reading, not that it closed.
      assert.match(cp.child.lines.filter((l) => l.includes('watch close stream=')).at(-1)!, /\(cut at the send timeout: the peer stopped reading\)/);
      socket.resume();
      await waitUntil(() => closed, 30_000, 'the peer sees the end after what was buffered');
      await waitUntil(() => fdCount(pid) <= baseline, 5_000, `descriptors back to ${baseline} (now ${fdCount(pid)})`);
    } finally {
      socket.destroy();
      await call(cp.url, 'DELETE', '/v1/resources/Route/default/stall-big');
      await call(cp.url, 'DELETE', '/v1/resources/Service/default/stall');
    }
  });

  it('keeps a keep-alive connection that idles between requests longer than the header and request timeouts', async () => {
    const { statuses, endedByServer } = await requestsAcrossIdle(await tlsClient(cp), 'GET /v1/health HTTP/1.1\r\nHost: x\r\n\r\n', IDLE_MS);
    assert.deepEqual(statuses, [200, 200, 200]);
    assert.equal(endedByServer, false);
  });

  it('closes connections over --max-connections at accept, logs it once, keeps the open ones working, and logs when it clears', async () => {
    const pid = cp.child.proc.pid!;
    await waitUntil(() => fdCount(pid) <= baseline, 15_000, 'no connection left from before');
    const open = await Promise.all(Array.from({ length: MAX }, () => tlsClient(cp)));
    const refused = await Promise.all(Array.from({ length: 4 }, () => handshakeAttempt(cp)));
    assert.ok(
      refused.every((r) => r !== 'handshake done'),
      refused.join(', '),
    );
    await cp.child.waitFor(/connection cap reached: 6 connections open/, 5_000);
    // Every open connection still answers.
    for (const s of open) {
      const answer = new Promise<string>((resolve) => s.once('data', (d: Buffer) => resolve(d.toString('latin1'))));
      s.write('GET /v1/health HTTP/1.1\r\nHost: x\r\n\r\n');
      assert.match(await answer, /^HTTP\/1\.1 200 /);
    }
    for (const s of open) s.destroy();
    await cp.child.waitFor(/connection cap cleared/, 10_000);
    assert.equal((await call(cp.url, 'GET', '/v1/health')).status, 200);
    assert.equal(cp.child.lines.filter((l) => /connection cap reached/.test(l)).length, 1, 'one line for the whole episode');
    assert.equal(cp.child.lines.filter((l) => /connection cap cleared/.test(l)).length, 1);
  });

  it('silent peers that fill --max-connections are cut at the header timeout, so a client refused at the cap gets in after them', async () => {
    const pid = cp.child.proc.pid!;
    await waitUntil(() => fdCount(pid) <= baseline, 15_000, 'no connection left from before');
    const silent = await Promise.all(Array.from({ length: MAX }, async () => watchPeer(await tlsClient(cp))));
    try {
      assert.notEqual(await handshakeAttempt(cp), 'handshake done', 'the silent peers fill the cap');
      const cut = await within(Promise.all(silent.map((p) => p.endedByServer)), 15_000);
      assert.ok(cut, 'the silent peers are still connected after 15 s');
      for (const p of silent) assert.match(p.received(), /^HTTP\/1\.1 408 /);
      await waitUntil(async () => (await call(cp.url, 'GET', '/v1/health').catch(() => undefined))?.status === 200, 10_000, 'a client served after the silent peers');
    } finally {
      for (const p of silent) p.close();
    }
  });

  it('answers a body slower than the request timeout 408 and destroys the socket', async () => {
    const pid = cp.child.proc.pid!;
    await waitUntil(() => fdCount(pid) <= baseline, 15_000, 'no connection left from before');
    const socket = await tlsClient(cp);
    const head = `POST /v1/instances HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${cp.adminToken}\r\n` + 'Content-Type: application/json\r\nContent-Length: 200\r\n\r\n';
    const slow = slowRequest(socket, head, ' '.repeat(150), 100);
    try {
      const ended = await within(slow.endedByServer, 10_000);
      assert.ok(ended !== undefined, `no answer within 10 s: ${JSON.stringify(slow.received())}`);
      assert.match(slow.received(), /^HTTP\/1\.1 408 /);
      assert.equal(errorCode(slow.received()), 'HYPHAE_ERR_REQUEST_TIMEOUT');
      assert.ok(ended >= 1_800, `ended after ${ended} ms, before the 2 s request timeout`);
      await waitUntil(() => fdCount(pid) <= baseline, 5_000, `descriptors back to ${baseline} (now ${fdCount(pid)})`);
    } finally {
      slow.close();
    }
  });

  it("refuses a client certificate chain over OpenSSL's 100 KiB limit in the handshake, and keeps answering", async () => {
    // The API asks every client for a certificate (requestCert, never required): a peer may send any chain.
    const pki = new Pki(await makeTempDir('hyphae-big-chain-'));
    const own = await pki.selfSignedCa('attacker');
    const pem = await readFile(own.cert, 'utf8');
    const key = await readFile(own.key, 'utf8');
    const pid = cp.child.proc.pid!;
    // 300 copies of a ~0.8 KiB certificate: about 240 KiB, over the 100 KiB OpenSSL accepts in one Certificate message.
    const outcome = await within(
      new Promise<string>((resolve) => {
        const s = tls.connect({ port: cp.port, host: '127.0.0.1', servername: 'localhost', ca: cp.ca, key, cert: pem.repeat(300) });
        let got = '';
        s.once('secureConnect', () => s.write('GET /v1/health HTTP/1.1\r\nHost: x\r\n\r\n'));
        s.on('data', (d: Buffer) => (got += d.toString('latin1')));
        s.once('error', (err: NodeJS.ErrnoException) => resolve(`error ${err.code ?? err.message}`));
        s.once('close', () => resolve(got ? `answered ${got.slice(0, 12)}` : 'closed'));
      }),
      10_000,
    );
    assert.ok(outcome !== undefined, 'the oversized chain was neither answered nor refused within 10 s');
    assert.doesNotMatch(outcome, /^answered/, 'a request came through over a connection whose certificate chain was over the limit');
    const health = await call(cp.url, 'GET', '/v1/health');
    assert.equal(health.status, 200);
    await waitUntil(() => fdCount(pid) <= baseline, 5_000, `descriptors back to ${baseline} (now ${fdCount(pid)})`);
  });

  it('cuts openssl s_client sending its headers one byte at a time', async () => {
    const client = spawn('openssl', ['s_client', '-connect', `127.0.0.1:${cp.port}`, '-servername', 'localhost', '-CAfile', cp.caFile!, '-quiet'], {
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    let out = '';
    client.stdout.on('data', (d: Buffer) => (out += d.toString('latin1')));
    client.stderr.on('data', () => {});
    client.stdin.on('error', () => {});
    const exited = new Promise<number | null>((resolve) => client.once('exit', (code) => resolve(code)));
    // s_client holds what it reads from stdin until its handshake is done.
    const drip = `GET /v1/health HTTP/1.1\r\nHost: x\r\nX-Slow: ${'a'.repeat(100)}`;
    let i = 0;
    const timer = setInterval(() => {
      if (i < drip.length && client.stdin.writable) client.stdin.write(drip[i++]!);
    }, 100);
    try {
      const code = await within(exited, 15_000);
      assert.notEqual(code, undefined, `s_client still connected after 15 s; it got ${JSON.stringify(out)}`);
      assert.match(out, /^HTTP\/1\.1 408 /);
    } finally {
      clearInterval(timer);
      client.kill('SIGKILL');
    }
  });
});

describe('control plane listeners in plain HTTP (--insecure API, --metrics-listen), low limits', () => {
  let cp: RunningControlPlane;
  let metricsPort: number;
  let baseline: number;
  const MAX = 4;
  const METRICS_MAX = 3;

  before(async () => {
    cp = await startControlPlane({
      insecure: true,
      args: ['--headers-timeout', '1s', '--request-timeout', '2s', '--max-connections', String(MAX), '--metrics-listen', '127.0.0.1:0', '--metrics-max-connections', String(METRICS_MAX)],
    });
    metricsPort = Number((await cp.child.waitFor(/metrics served at http:\/\/127\.0\.0\.1:(\d+)\/metrics/, 10_000))[1]);
    baseline = fdCount(cp.child.proc.pid!);
  });
  after(async () => {
    await cp?.stop();
  });

  it('answers a peer that connects and sends nothing 408 at the header timeout and destroys the socket, on the API and the metrics listener', async () => {
    const pid = cp.child.proc.pid!;
    // As over TLS: one peer of each pair reads, the other never does (only the server's descriptors tell).
    const readers = await Promise.all([cp.port, metricsPort].map(async (port) => watchPeer(await plainClient(port))));
    const mutes = await Promise.all([cp.port, metricsPort].map((port) => plainClient(port)));
    try {
      const ended = await within(Promise.all(readers.map((r) => r.endedByServer)), 15_000);
      assert.ok(ended, `a silent peer is still connected after 15 s; they got ${JSON.stringify(readers.map((r) => r.received()))}`);
      for (const [i, r] of readers.entries()) {
        assert.match(r.received(), /^HTTP\/1\.1 408 /, ['API', 'metrics'][i]);
        assert.ok(ended[i]! >= 900, `${['API', 'metrics'][i]} cut after ${Math.round(ended[i]!)} ms, before the 1 s header timeout`);
      }
      assert.equal(errorCode(readers[0]!.received()), 'HYPHAE_ERR_REQUEST_TIMEOUT');
      await waitUntil(() => fdCount(pid) <= baseline, 5_000, `descriptors back to ${baseline} (now ${fdCount(pid)})`);
      assert.deepEqual(
        mutes.map((m) => m.destroyed),
        [false, false],
        'the peers that read nothing still hold their ends',
      );
    } finally {
      for (const r of readers) r.close();
      for (const m of mutes) m.destroy();
    }
  });

  it('still answers a peer that dribbles its headers 408 (the header timeout, from the first byte)', async () => {
    const pid = cp.child.proc.pid!;
    await waitUntil(() => fdCount(pid) <= baseline, 15_000, 'no connection left from before');
    const slow = await Promise.all(
      [
        [cp.port, 'GET /v1/health HTTP/1.1\r\nHost: x\r\n'],
        [metricsPort, 'GET /metrics HTTP/1.1\r\nHost: x\r\n'],
      ].map(async ([port, head]) => slowRequest(await plainClient(port as number), head as string, `X-Slow: ${'a'.repeat(200)}`, 100)),
    );
    try {
      const ended = await within(Promise.all(slow.map((s) => s.endedByServer)), 15_000);
      assert.ok(ended, `a dribbling peer is still connected after 15 s; they got ${JSON.stringify(slow.map((s) => s.received()))}`);
      for (const s of slow) assert.match(s.received(), /^HTTP\/1\.1 408 /);
      assert.equal(errorCode(slow[0]!.received()), 'HYPHAE_ERR_REQUEST_TIMEOUT');
      await waitUntil(() => fdCount(pid) <= baseline, 5_000, `descriptors back to ${baseline} (now ${fdCount(pid)})`);
    } finally {
      for (const s of slow) s.close();
    }
  });

  it('keeps keep-alive connections that idle between requests longer than the header and request timeouts', async () => {
    const [api, metrics] = await Promise.all([
      requestsAcrossIdle(await plainClient(cp.port), 'GET /v1/health HTTP/1.1\r\nHost: x\r\n\r\n', IDLE_MS),
      requestsAcrossIdle(await plainClient(metricsPort), 'GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n', IDLE_MS),
    ]);
    assert.deepEqual(api, { statuses: [200, 200, 200], endedByServer: false });
    assert.deepEqual(metrics, { statuses: [200, 200, 200], endedByServer: false });
  });

  it('silent peers that fill either cap are cut at the header timeout, so a client refused at the cap gets in after them', async () => {
    const pid = cp.child.proc.pid!;
    await waitUntil(() => fdCount(pid) <= baseline, 15_000, 'no connection left from before');
    const fill = async (port: number, n: number) => Promise.all(Array.from({ length: n }, async () => watchPeer(await plainClient(port))));
    const silent = [...(await fill(cp.port, MAX)), ...(await fill(metricsPort, METRICS_MAX))];
    try {
      // One more on each is closed at accept, before any byte: the caps are full.
      for (const port of [cp.port, metricsPort]) {
        const extra = watchPeer(await plainClient(port));
        const got = await within(extra.endedByServer, 5_000);
        extra.close();
        assert.ok(got !== undefined && extra.received() === '', `port ${port}: not closed at accept (got ${JSON.stringify(extra.received())})`);
      }
      const cut = await within(Promise.all(silent.map((p) => p.endedByServer)), 15_000);
      assert.ok(cut, 'the silent peers are still connected after 15 s');
      for (const p of silent) assert.match(p.received(), /^HTTP\/1\.1 408 /);
      await waitUntil(async () => (await call(cp.url, 'GET', '/v1/health').catch(() => undefined))?.status === 200, 10_000, 'the API serves a client after them');
      await waitUntil(async () => (await fetch(`http://127.0.0.1:${metricsPort}/metrics`).catch(() => undefined))?.status === 200, 10_000, 'the metrics listener too');
    } finally {
      for (const p of silent) p.close();
    }
  });
});
