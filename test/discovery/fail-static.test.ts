import assert from 'node:assert/strict';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { describe, it } from 'node:test';
import type { ServiceSnapshot } from '../../src/config/wire.js';
import { silentLogger } from '../../src/core/logger.js';
import { ControlPlaneClient } from '../../src/discovery/control-plane-client.js';
import { ControlPlaneResolver, type SnapshotFallback } from '../../src/discovery/control-plane-resolver.js';
import type { ResolverUpdate } from '../../src/discovery/resolver.js';
import { WatchStream } from '../../src/discovery/watch-stream.js';
import { snapshot } from '../helpers/snapshots.js';

async function deadUrl(): Promise<string> {
  const s = http.createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  const port = (s.address() as AddressInfo).port;
  await new Promise<void>((r) => s.close(() => r()));
  return `http://127.0.0.1:${port}`;
}

function fallback(snaps: ServiceSnapshot[], serveImmediately: boolean): SnapshotFallback & { closed: boolean } {
  const map = new Map(snaps.map((s) => [`${s.namespace}/${s.name}`, s]));
  return {
    closed: false,
    serveImmediately,
    get: (ref) => map.get(ref),
    async close() {
      this.closed = true;
    },
  };
}

function kinds(updates: ResolverUpdate[]): string[] {
  return updates.map((u) => (u.type === 'reset' ? `reset:${u.endpoints.map((e) => e.port).join(',')}` : u.type));
}

async function until(check: () => boolean, ms = 5_000): Promise<void> {
  const t0 = performance.now();
  while (!check()) {
    if (performance.now() - t0 > ms) throw new Error('condition not met');
    await new Promise((r) => setTimeout(r, 5));
  }
}

describe('ControlPlaneResolver with a last-known-good fallback (control plane down)', () => {
  it('a followed service starts from its cached snapshot when the stream fails, before the error', async () => {
    const client = new ControlPlaneClient([await deadUrl()], { timeoutMs: 500 });
    const stream = new WatchStream(client, silentLogger);
    const fb = fallback([snapshot('api', [7001, 7002], 4, { mtlsMode: 'STRICT' })], false);
    const resolver = new ControlPlaneResolver(stream, fb);
    const api: ResolverUpdate[] = [];
    const web: ResolverUpdate[] = [];
    resolver.watch({ namespace: 'default', name: 'api' }, (u) => api.push(u));
    resolver.watch({ namespace: 'default', name: 'web' }, (u) => web.push(u));
    await until(() => api.length >= 2 && web.length >= 1);
    assert.deepEqual(kinds(api).slice(0, 2), ['reset:7001,7002', 'error']);
    const first = api[0] as Extract<ResolverUpdate, { type: 'reset' }>;
    assert.equal(first.mtlsMode, 'STRICT', 'config, routes, policies and mtlsMode come back too');
    assert.equal(first.endpoints[0]!.labels.zone, 'a');
    assert.deepEqual(kinds(web)[0], 'error', 'nothing cached: the error as before');
    // Later failures of the stream do not replay the cache.
    const n = api.length;
    await until(() => api.length > n + 1);
    assert.ok(
      kinds(api)
        .slice(n)
        .every((k) => k === 'error'),
    );
    await resolver.close();
    await stream.close();
    await client.close();
    assert.equal(fb.closed, true, 'closing the resolver flushes the cache');
  });

  it('serveImmediately (started during an outage): cached snapshots answer at once', async () => {
    const client = new ControlPlaneClient([await deadUrl()], { timeoutMs: 500 });
    const stream = new WatchStream(client, silentLogger);
    const resolver = new ControlPlaneResolver(stream, fallback([snapshot('api', [7001])], true));
    const api: ResolverUpdate[] = [];
    resolver.watch({ namespace: 'default', name: 'api' }, (u) => api.push(u));
    await new Promise((r) => queueMicrotask(() => r(undefined)));
    await new Promise((r) => setImmediate(r));
    assert.deepEqual(kinds(api)[0], 'reset:7001');
    await resolver.close();
    await stream.close();
    await client.close();
  });
});
