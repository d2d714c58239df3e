/**
 * Policies change live: a policy applied to a real control plane (child
 * process) changes the answers of a running wrapped server within 1 s,
 * without restarting anything; and a server enforces a policy that selects
 * its service even before the service exists in the registry.
 */
import assert from 'node:assert/strict';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { createMesh, type Mesh } from '../../src/index.js';
import { silentLogger } from '../../src/core/logger.js';
import { call, startControlPlane, type RunningControlPlane } from '../helpers/control-plane.js';
import { rawRequest } from '../helpers/raw-http.js';

/** A change that has not reached the server after this long has stalled (the promise is 1 s; see changeAndWait). */
const STALL_MS = 10_000;

function policy(name: string, action: 'ALLOW' | 'DENY', prefix: string, selector?: string) {
  return {
    apiVersion: 'hyphae.dev/v1',
    kind: 'AuthorizationPolicy',
    metadata: { name, namespace: 'default' },
    spec: { ...(selector ? { selector: { service: selector } } : {}), action, rules: [{ to: { paths: [{ type: 'PathPrefix', value: prefix }] } }] },
  };
}

async function listen(server: http.Server): Promise<number> {
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return (server.address() as AddressInfo).port;
}

describe('live authorization policies through the control plane', () => {
  let cp: RunningControlPlane;
  let mesh: Mesh;
  let port: number;
  const handled: string[] = [];
  const changes: { what: string; ms: number }[] = [];

  before(async () => {
    // Insecure: these policies match paths, and a raw plaintext client is the simplest way to send odd ones
    // (mTLS and identity-based rules are tested with the mesh CA elsewhere).
    cp = await startControlPlane({ insecure: true });
    mesh = await createMesh({ service: 'web', controlPlane: cp.url, logger: silentLogger, server: { drainDelayMs: 0, gracePeriodMs: 1_000 } });
    const server = mesh.wrapServer(
      http.createServer((req, res) => {
        handled.push(req.url!);
        res.end('ok');
      }),
    );
    port = await listen(server);
    await mesh.registered(server);
  });
  after(async () => {
    await mesh?.close();
    await cp?.stop();
    if (changes.length) console.log(`# live policy changes: ${changes.map((c) => `${c.what} ${c.ms.toFixed(0)} ms`).join(', ')} (promise: 1000 ms; stall ceiling ${STALL_MS} ms)`);
  });

  const status = async (target: string) => (await rawRequest(port, { target })).status;

  /** Make the change, then poll until `target` answers `want`; the time from the write to the first such answer. */
  async function changeAndWait(what: string, doIt: () => Promise<{ status: number }>, target: string, want: number): Promise<void> {
    const t0 = performance.now();
    assert.equal((await doIt()).status, 200);
    // The promise is "within 1 s" (typically 20-60 ms, logged in after()); the figure near it belongs to
    // `npm run bench:control-plane` (change -> watcher p99), so a test on a busy machine (30 runnable
    // processes on 2 cores once took 1.2-1.4 s) bounds it only against a stall.
    for (;;) {
      if ((await status(target)) === want) break;
      assert.ok(performance.now() - t0 < STALL_MS, `${what}: ${target} did not answer ${want} within ${STALL_MS} ms`);
      await new Promise((r) => setTimeout(r, 10));
    }
    const ms = performance.now() - t0;
    changes.push({ what, ms });
  }

  it('a DENY applied to the running server takes effect live (the time logged), and its deletion too', async () => {
    assert.equal(await status('/admin/x'), 200);
    await changeAndWait('DENY /admin applied', () => call(cp.url, 'PUT', '/v1/resources', policy('no-admin', 'DENY', '/admin', 'web')), '/admin/x', 403);
    const before = handled.length;
    assert.equal(await status('/public/../admin'), 403);
    assert.equal(await status('/public/x'), 200);
    assert.deepEqual(handled.slice(before), ['/public/x']);
    await changeAndWait('DENY /admin deleted', () => call(cp.url, 'DELETE', '/v1/resources/AuthorizationPolicy/default/no-admin'), '/admin/x', 200);
  });

  it('a namespace-wide ALLOW turns on default deny live (the time logged)', async () => {
    await changeAndWait('ALLOW /public applied', () => call(cp.url, 'PUT', '/v1/resources', policy('public-only', 'ALLOW', '/public')), '/other', 403);
    assert.equal(await status('/public/a'), 200);
    await changeAndWait('ALLOW /public updated to /other', () => call(cp.url, 'PUT', '/v1/resources', policy('public-only', 'ALLOW', '/other')), '/public/a', 403);
    assert.equal(await status('/other'), 200);
    await changeAndWait('ALLOW deleted', () => call(cp.url, 'DELETE', '/v1/resources/AuthorizationPolicy/default/public-only'), '/public/a', 200);
  });

  it('a server whose service is not registered (not-found snapshot) still enforces the policies that select it', async () => {
    assert.equal((await call(cp.url, 'PUT', '/v1/resources', policy('ghost-guard', 'DENY', '/admin', 'ghost'))).status, 200);
    const ghost = await createMesh({ service: 'ghost', controlPlane: cp.url, logger: silentLogger, server: { drainDelayMs: 0, gracePeriodMs: 1_000 } });
    try {
      const server = ghost.wrapServer(
        http.createServer((_req, res) => res.end('ghost')),
        { register: false },
      );
      const ghostPort = await listen(server);
      // The first request may wait for the policies; it must never run unchecked.
      assert.equal((await rawRequest(ghostPort, { target: '/admin' })).status, 403);
      assert.equal((await rawRequest(ghostPort, { target: '/public' })).status, 200);
    } finally {
      await ghost.close();
    }
  });
});
