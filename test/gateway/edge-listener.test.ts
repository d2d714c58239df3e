/**
 * A gateway listener against hostile input, with real sockets: the path
 * corpus sent raw (net.connect) is refused or normalized exactly as a wrapped
 * server does, so a policy enforced behind the gateway cannot be walked
 * around through it (mirrors test/server/authz/corpus.test.ts); slowloris,
 * silent and oversized-header peers are cut, and so is one that never reads a
 * large answer (after the idle timeout); and `hyphae gateway` (the CLI,
 * a child process) drains on SIGTERM: readyz fails first, the request in
 * flight finishes, exit 0.
 */
import assert from 'node:assert/strict';
import http from 'node:http';
import net, { type AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { createMesh, type Mesh } from '../../src/index.js';
import { silentLogger } from '../../src/core/logger.js';
import { normalizeTarget } from '../../src/server/authz/normalize-path.js';
import type { RunningGateway } from '../../src/gateway/start-gateway.js';
import { startControlPlane, type RunningControlPlane } from '../helpers/control-plane.js';
import { corpus } from '../helpers/corpus.js';
import { hostilePeer, slowRequest, streamBig, waitUntil, within } from '../helpers/hostile-peers.js';
import { rawExchange, rawRequest } from '../helpers/raw-http.js';
import { cliPath, startNode } from '../helpers/process.js';
import { apply, boundPort, meta, startTestGateway } from '../helpers/gateway.js';

const API = 'hyphae.dev/v1';
const STALL_MS = 30_000;

async function freePort(): Promise<number> {
  const s = net.createServer();
  await new Promise<void>((resolve) => s.listen(0, '127.0.0.1', resolve));
  const port = (s.address() as AddressInfo).port;
  await new Promise<void>((resolve) => s.close(() => resolve()));
  return port;
}

/** The size of /public/big: more than every buffer between the app and a peer that reads nothing (the sockets' on loopback, Node's, undici's). */
const BIG_BYTES = 256 * 1024 * 1024;
/** How /public/big ended at the app: finished (all written), or closed before (the gateway let go). */
let bigEnded: Promise<'finished' | 'closed early'> | undefined;

describe('a gateway listener against hostile input, and the CLI drain', () => {
  let cp: RunningControlPlane;
  let app: Mesh;
  let server: http.Server;
  const seen: string[] = [];
  let gw: RunningGateway;
  let port: number;

  before(async () => {
    cp = await startControlPlane({ insecure: true });
    app = await createMesh({ ...(await cp.meshOptions('app')), logger: silentLogger, server: { drainDelayMs: 0 } });
    server = app.wrapServer(
      http.createServer((req, res) => {
        seen.push(req.url!);
        if (req.url === '/public/big') return void (bigEnded = streamBig(res, BIG_BYTES));
        const ms = Number(new URL(req.url!, 'http://x').searchParams.get('ms') ?? 0);
        setTimeout(() => res.end('handler'), ms);
      }),
    );
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    await app.registered(server);
    await apply(
      cp,
      {
        apiVersion: API,
        kind: 'Gateway',
        metadata: meta('edge'),
        spec: { listeners: [{ name: 'http', port: 8080, protocol: 'HTTP' }], edge: { maxRequestHeaderBytes: 4096, timeouts: { requestHeaders: '1s', request: '2s', idle: '2s' } } },
      },
      { apiVersion: API, kind: 'Route', metadata: meta('all'), spec: { parentRefs: [{ kind: 'Gateway', name: 'edge' }], rules: [{ backendRefs: [{ name: 'app' }] }] } },
      {
        apiVersion: API,
        kind: 'AuthorizationPolicy',
        metadata: meta('allow-public'),
        spec: { selector: { service: 'app' }, action: 'ALLOW', rules: [{ to: { paths: [{ type: 'PathPrefix', value: '/public' }] } }] },
      },
    );
    gw = await startTestGateway(cp, 'edge', [8080]);
    await gw.ready;
    port = boundPort(gw, 8080);
    // The policy is in force behind the gateway before the corpus runs.
    await waitUntil(async () => (await rawRequest(port, { target: '/admin' })).status === 403, STALL_MS, 'the policy reaches app');
  });

  after(async () => {
    await gw?.close();
    await app?.close();
    await cp?.stop();
  });

  it('every path-bypass line sent raw is refused (400 by the normalization, 403 by the policy behind) and never reaches the handler', async () => {
    const bypass = corpus('path-bypass.txt');
    assert.ok(bypass.length >= 40, `corpus read (${bypass.length} lines)`);
    const bypasses: string[] = [];
    const by = new Map<number, number>();
    for (const line of bypass) {
      const before = seen.length;
      const reply = await rawRequest(port, { target: line });
      by.set(reply.status, (by.get(reply.status) ?? 0) + 1);
      if ((reply.status !== 400 && reply.status !== 403) || seen.length !== before) bypasses.push(`${JSON.stringify(line)} -> ${reply.status}, handler saw ${JSON.stringify(seen.slice(before))}`);
    }
    console.log(`# gateway corpus: ${bypass.length} bypass lines, bypasses = ${bypasses.length}; statuses ${[...by].map(([k, v]) => `${k}: ${v}`).join(', ')}`);
    assert.deepEqual(bypasses, []);
  });

  it('every benign line reaches the handler behind the gateway as the normalized path a wrapped server hands its handler', async () => {
    const wrong: string[] = [];
    for (const line of corpus('path-benign.txt')) {
      const before = seen.length;
      const reply = await rawRequest(port, { target: line });
      const got = seen.slice(before);
      const expected = normalizeTarget(line);
      if (reply.status !== 200 || got.length !== 1 || got[0] !== expected)
        wrong.push(`${JSON.stringify(line)} -> ${reply.status}, handler saw ${JSON.stringify(got)}, expected ${JSON.stringify(expected)}`);
    }
    assert.deepEqual(wrong, []);
  });

  it('oversized headers are answered 431; a silent peer and a slowloris peer are cut at the header timeout', async () => {
    const big = await rawRequest(port, { target: '/public', headers: [['x-big', 'a'.repeat(8_000)]] });
    assert.equal(big.status, 431);
    // Coded JSON as the gateway's other errors, not Node's bare status line.
    assert.deepEqual(JSON.parse(big.body), { error: { code: 'HYPHAE_ERR_BAD_REQUEST', message: 'the request line and headers exceed 4096 bytes' } });
    const malformed = await rawExchange(port, 'GET /public HTTP/1.1\r\nHost: x\r\nbad header\r\n\r\n');
    assert.equal(malformed.status, 400);
    assert.match((JSON.parse(malformed.body) as { error: { code: string; message: string } }).error.message, /^malformed HTTP request \(HPE_[A-Z_]+\): /);

    const silent = await hostilePeer(port, 'silent');
    const half = await hostilePeer(port, 'half-close');
    const drip = await new Promise<net.Socket>((resolve) => {
      const s = net.connect(port, '127.0.0.1', () => resolve(s));
    });
    const slow = slowRequest(drip, 'GET /public HTTP/1.1\r\nHost: x\r\n', 'x-a: b\r\n'.repeat(200), 200);
    try {
      // Bounds catch a stall (the timeout is 1 s); they are not the expected time.
      assert.notEqual(await within(silent.endedByServer, 20_000), undefined, 'the silent peer is cut');
      assert.notEqual(await within(half.endedByServer, 20_000), undefined, 'the half-closed peer is cut');
      assert.notEqual(await within(slow.endedByServer, 20_000), undefined, 'the slowloris peer is cut');
      // Cut by the listener's deadline from accept to the first request's headers (or Node's 408): never served.
      assert.doesNotMatch(slow.received(), /^HTTP\/1\.1 200/);
    } finally {
      silent.close();
      half.close();
      slow.close();
    }
    // A complete request after them is served as ever.
    assert.equal((await rawExchange(port, 'GET /public/ok HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n')).status, 200);
  });

  it('a peer that asks for a large answer and never reads it is let go after the idle timeout (nginx send_timeout), and the app with it', async () => {
    const reader = net.connect({ port, host: '127.0.0.1' });
    await new Promise<void>((resolve) => reader.once('connect', resolve));
    reader.pause();
    reader.write('GET /public/big HTTP/1.1\r\nHost: x\r\n\r\n');
    try {
      await waitUntil(() => bigEnded !== undefined, STALL_MS, 'the request reached the app');
      // The app's answer is stuck behind a peer that reads nothing: the gateway gives up on it (2 s without
      // progress), and its call to the app is cancelled. The bound catches a stall; it is not the expected time.
      assert.equal(await within(bigEnded!, 60_000), 'closed early', 'the gateway let go of the stuck answer');
      // Read now: what was buffered comes, then the end; far less than the whole answer.
      let got = 0;
      reader.on('data', (d: Buffer) => (got += d.length));
      const ended = new Promise<'closed'>((resolve) => reader.once('close', () => resolve('closed')));
      reader.on('error', () => {});
      reader.resume();
      assert.equal(await within(ended, STALL_MS), 'closed', 'the connection ends');
      assert.ok(got < BIG_BYTES, `got ${got} of ${BIG_BYTES} bytes`);
    } finally {
      reader.destroy();
    }
  });

  it('hyphae gateway (CLI): SIGTERM fails readyz first, finishes the request in flight, exits 0', async () => {
    const listenPort = await freePort();
    await apply(
      cp,
      {
        apiVersion: API,
        kind: 'Gateway',
        metadata: meta('cli-edge'),
        spec: { listeners: [{ name: 'http', port: listenPort, protocol: 'HTTP' }] },
      },
      { apiVersion: API, kind: 'Route', metadata: meta('cli-all'), spec: { parentRefs: [{ kind: 'Gateway', name: 'cli-edge' }], rules: [{ backendRefs: [{ name: 'app' }] }] } },
    );
    const child = startNode(cliPath, ['gateway', '--name', 'cli-edge', '--host', '127.0.0.1', '--admin', '127.0.0.1:0', '--drain-delay', '1s', '--grace-period', '20s'], await cp.env('cli-edge'));
    try {
      const m = await child.waitFor(/hyphae gateway: ready .*admin=127\.0\.0\.1:(\d+)/, 60_000);
      const admin = Number(m[1]);
      const status = (path: string) =>
        new Promise<number>((resolve) => http.get({ host: '127.0.0.1', port: admin, path, agent: false }, (r) => (r.resume(), resolve(r.statusCode!))).on('error', () => resolve(0)));
      assert.equal(await status('/readyz'), 200);
      assert.equal(await status('/healthz'), 200);
      const inFlight = rawRequest(listenPort, { target: '/public/slow?ms=2500' }, STALL_MS);
      await waitUntil(() => seen.includes('/public/slow?ms=2500'), STALL_MS, 'the slow request reached the app');
      child.proc.kill('SIGTERM');
      await waitUntil(async () => (await status('/readyz')) === 503, STALL_MS, 'readyz fails while draining');
      const reply = await inFlight;
      assert.equal(reply.status, 200, 'the request in flight finished');
      assert.equal(reply.body, 'handler');
      assert.equal(await within(child.exited, STALL_MS), 0, 'exit 0 after the drain');
    } finally {
      await child.kill();
    }
  });
});
