/**
 * The gateway under load while things restart: a rolling restart of the
 * backends loses no request, and a gateway replica killed (SIGKILL) behind a
 * TCP balancer (test/helpers/tcp-balancer.ts, round-robin over two
 * `hyphae gateway` children) costs only the requests in flight on it. Every
 * load loop is bounded in count and in time.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { Pool } from 'undici';
import type { RunningGateway } from '../../src/gateway/start-gateway.js';
import { startControlPlane, type RunningControlPlane } from '../helpers/control-plane.js';
import { waitUntil } from '../helpers/hostile-peers.js';
import { cliPath, startNode, type Child } from '../helpers/process.js';
import { apply, boundPort, meta, startBackend, startTestGateway, type Backend, type Echo } from '../helpers/gateway.js';
import { startTcpBalancer, type TcpBalancer } from '../helpers/tcp-balancer.js';

const API = 'hyphae.dev/v1';
const WORKERS = 4;
const MAX_REQUESTS = 5_000;
const MAX_LOAD_MS = 90_000;
const STALL_MS = 30_000;

interface Load {
  ok: number;
  failures: string[];
  /** When each failed request was sent (performance.now()), in the order of `failures`. */
  failedSentAt: number[];
  /** Stops the loop (it also stops at MAX_REQUESTS or MAX_LOAD_MS). */
  stop(): void;
  done: Promise<void>;
}

/** WORKERS loops of GET through `pool`; `fresh`: a new connection per request (Connection: close). */
function load(pool: Pool, fresh: boolean): Load {
  const l = { ok: 0, failures: [] as string[], failedSentAt: [] as number[] } as Load;
  let stopped = false;
  let sent = 0;
  const until = performance.now() + MAX_LOAD_MS;
  l.stop = () => (stopped = true);
  const worker = async () => {
    while (!stopped && sent < MAX_REQUESTS && performance.now() < until) {
      sent++;
      const sentAt = performance.now();
      let failure: string | undefined;
      try {
        const res = await pool.request({ path: '/work', method: 'GET', reset: fresh, headersTimeout: 20_000, bodyTimeout: 20_000 });
        const body = await res.body.text();
        if (res.statusCode === 200) l.ok++;
        else failure = `${res.statusCode} ${body.slice(0, 200)}`;
      } catch (err) {
        failure = String(err);
      }
      if (failure !== undefined) {
        l.failures.push(failure);
        l.failedSentAt.push(sentAt);
      }
    }
  };
  l.done = Promise.all(Array.from({ length: WORKERS }, worker)).then(() => undefined);
  return l;
}

describe('the gateway under load while things restart', () => {
  let cp: RunningControlPlane;
  const backends: Backend[] = [];

  before(async () => {
    cp = await startControlPlane({ insecure: true });
    backends.push(await startBackend(cp, 'app', 'app-1', 300), await startBackend(cp, 'app', 'app-2', 300));
    await apply(
      cp,
      { apiVersion: API, kind: 'Gateway', metadata: meta('edge'), spec: { listeners: [{ name: 'http', port: 8080, protocol: 'HTTP' }] } },
      { apiVersion: API, kind: 'Route', metadata: meta('all'), spec: { parentRefs: [{ kind: 'Gateway', name: 'edge' }], rules: [{ backendRefs: [{ name: 'app' }] }] } },
    );
  });

  after(async () => {
    for (const b of backends) await b.close();
    await cp?.stop();
  });

  it('a rolling restart of the backends under load loses no request', async () => {
    const gw: RunningGateway = await startTestGateway(cp, 'edge', [8080]);
    let pool: Pool | undefined;
    try {
      await gw.ready;
      pool = new Pool(`http://127.0.0.1:${boundPort(gw, 8080)}`, { connections: WORKERS });
      const l = load(pool, false);
      const seen = new Set<string>();
      for (let i = 0; i < backends.length; i++) {
        const before = l.ok;
        await waitUntil(() => l.ok >= before + 100, STALL_MS, 'load flows before the restart');
        const old = backends[i]!;
        // Deregister, keep serving the drain delay, finish in flight, close: then a new instance.
        await old.close();
        backends[i] = await startBackend(cp, 'app', `app-${i + 1}-new`, 300);
        seen.add(`app-${i + 1}-new`);
      }
      const afterRestart = l.ok;
      await waitUntil(() => l.ok >= afterRestart + 100, STALL_MS, 'load flows after the restarts');
      l.stop();
      await l.done;
      console.log(`# rolling restart: ${l.ok} requests answered 200, ${l.failures.length} failed`);
      assert.deepEqual(l.failures, []);
      const r = (await (await pool.request({ path: '/who', method: 'GET' })).body.json()) as Echo;
      assert.ok(seen.has(r.instance), `the new instances serve (got ${r.instance})`);
    } finally {
      await pool?.close();
      await gw.close();
    }
  });

  it('a gateway replica killed under load behind a TCP balancer costs only the requests in flight on it', async () => {
    const replicas: Child[] = [];
    let balancer: TcpBalancer | undefined;
    let pool: Pool | undefined;
    try {
      const ports: number[] = [];
      for (let i = 0; i < 2; i++) {
        const child = startNode(cliPath, ['gateway', '--name', 'edge', '--host', '127.0.0.1', '--port', '8080=0', '--admin', 'off', '--drain-delay', '0s'], await cp.env('edge'));
        replicas.push(child);
        const m = await child.waitFor(/hyphae gateway: ready .*listeners=8080=127\.0\.0\.1:(\d+)/, 60_000);
        ports.push(Number(m[1]));
      }
      balancer = await startTcpBalancer(ports);
      pool = new Pool(`http://127.0.0.1:${balancer.port}`, { connections: WORKERS });
      const l = load(pool, true);
      await waitUntil(() => l.ok >= 100, STALL_MS, 'load flows through both replicas');
      replicas[0]!.proc.kill('SIGKILL');
      const killedAt = l.ok;
      // The kernel closes a process's sockets before its parent hears of the exit: from then on a connection to
      // the replica is refused and the balancer takes the other. Until then, a request whose connection the
      // dying replica's listener still accepted (a worker's next request right after its last failed) is as
      // much "in flight on it" as one it was serving: requests sent before the exit may fail, none after.
      await replicas[0]!.exited;
      const exitedAt = performance.now();
      await waitUntil(() => l.ok >= killedAt + 200, STALL_MS, 'load flows through the surviving replica');
      l.stop();
      await l.done;
      const late = l.failures.filter((_, i) => l.failedSentAt[i]! >= exitedAt);
      console.log(
        `# replica killed: ${l.ok} answered 200, ${l.failures.length} failed (${WORKERS} workers), ${late.length} of them sent after the replica's exit; balancer sent ${JSON.stringify([...balancer.sent])}`,
      );
      assert.deepEqual(late, [], 'no request sent after the replica was gone failed');
      // Each worker loses at most its request in flight and one sent in the moment the replica was dying.
      assert.ok(l.failures.length <= 2 * WORKERS, `only the requests in flight on the killed replica fail: ${JSON.stringify(l.failures)}`);
      assert.ok((balancer.sent.get(ports[0]!) ?? 0) > 0 && (balancer.sent.get(ports[1]!) ?? 0) > 0, 'both replicas served before the kill');
    } finally {
      await pool?.close();
      await balancer?.close();
      for (const r of replicas) await r.kill();
    }
  });
});
