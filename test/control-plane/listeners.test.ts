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
 * - slow clients over TLS (our own and `openssl s_client`): 408, then the
 *   socket is destroyed even though the peer never closes its side.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import tls from 'node:tls';
import { after, before, describe, it } from 'node:test';
import { call, startControlPlane, type RunningControlPlane } from '../helpers/control-plane.js';
import { fdCount, hostilePeer, slowRequest, waitUntil, within, type Peer, type PeerKind } from '../helpers/hostile-peers.js';

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
      args: ['--tls-handshake-timeout', '1s', '--headers-timeout', '1s', '--request-timeout', '2s', '--max-connections', String(MAX)],
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

  it('closes connections over --max-connections at accept, logs it once, keeps the open ones working, and logs when it clears', async () => {
    const pid = cp.child.proc.pid!;
    await waitUntil(() => fdCount(pid) <= baseline, 15_000, 'no connection left from before');
    const open = await Promise.all(Array.from({ length: MAX }, () => tlsClient(cp)));
    const refused = await Promise.all(
      Array.from(
        { length: 4 },
        () =>
          new Promise<string>((resolve) => {
            const s = tls.connect({ port: cp.port, host: '127.0.0.1', servername: 'localhost', ca: cp.ca });
            s.once('secureConnect', () => {
              s.destroy();
              resolve('handshake done');
            });
            s.once('error', (err: NodeJS.ErrnoException) => resolve(err.code ?? err.message));
          }),
      ),
    );
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
