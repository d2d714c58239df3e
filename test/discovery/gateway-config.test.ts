/** A gateway process's configuration from a real control plane (child process): apply and delete of attached routes arrive live. */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { silentLogger } from '../../src/core/logger.js';
import type { GatewaySnapshot } from '../../src/config/wire.js';
import { ControlPlaneClient } from '../../src/discovery/control-plane-client.js';
import { GatewayConfigWatch } from '../../src/discovery/gateway-config.js';
import { WatchStream } from '../../src/discovery/watch-stream.js';
import { call, startControlPlane, type RunningControlPlane } from '../helpers/control-plane.js';

const route = (name: string, hostnames?: string[]) => ({
  apiVersion: 'hyphae.dev/v1',
  kind: 'Route',
  metadata: { name, namespace: 'shop' },
  spec: { parentRefs: [{ kind: 'Gateway', name: 'edge' }], ...(hostnames ? { hostnames } : {}), rules: [{ backendRefs: [{ name: 'web' }] }] },
});

/** The next snapshot that satisfies `pred` (the current one counts), bounded so a stall fails the test. */
function next(watch: GatewayConfigWatch, pred: (s: GatewaySnapshot) => boolean, ms = 10_000): Promise<GatewaySnapshot> {
  if (watch.current && pred(watch.current)) return Promise.resolve(watch.current);
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      off();
      reject(new Error(`no matching gateway snapshot within ${ms} ms; last: ${JSON.stringify(watch.current)}`));
    }, ms);
    const off = watch.onChange((s) => {
      if (!pred(s)) return;
      clearTimeout(timer);
      off();
      resolve(s);
    });
  });
}

describe('GatewayConfigWatch against a real control plane', () => {
  let cp: RunningControlPlane;
  let client: ControlPlaneClient;
  let stream: WatchStream;

  before(async () => {
    cp = await startControlPlane();
    const res = await call(cp.url, 'PUT', '/v1/resources', {
      items: [
        { apiVersion: 'hyphae.dev/v1', kind: 'Service', metadata: { name: 'web', namespace: 'shop' } },
        {
          apiVersion: 'hyphae.dev/v1',
          kind: 'Gateway',
          metadata: { name: 'edge', namespace: 'shop' },
          spec: { listeners: [{ name: 'http', port: 8080, protocol: 'HTTP' }], edge: { trustedHops: 1 } },
        },
      ],
    });
    assert.equal(res.status, 200, res.text);
    client = new ControlPlaneClient([cp.url], { ca: cp.ca!, token: await cp.joinToken('edge', 'shop') });
    stream = new WatchStream(client, silentLogger);
  });
  after(async () => {
    await stream?.close();
    await client?.close();
    await cp?.stop();
  });

  it('starts from the gateway as stored, then follows route applies and deletes', async () => {
    const watch = new GatewayConfigWatch(stream, 'shop', 'edge');
    try {
      const first = await watch.ready(AbortSignal.timeout(15_000));
      assert.equal(first.exists, true);
      assert.equal(first.config?.edge.trustedHops, 1);
      assert.deepEqual(first.routes, []);

      assert.equal((await call(cp.url, 'PUT', '/v1/resources', route('shop', ['shop.example.com']))).status, 200);
      const applied = await next(watch, (s) => s.routes.length === 1);
      assert.equal(applied.routes[0]!.metadata.name, 'shop');
      assert.deepEqual(applied.routes[0]!.spec.hostnames, ['shop.example.com']);

      assert.equal((await call(cp.url, 'PUT', '/v1/resources', route('shop', ['www.example.com']))).status, 200);
      const changed = await next(watch, (s) => s.routes[0]?.spec.hostnames?.[0] === 'www.example.com');
      assert.ok(changed.version > applied.version);

      assert.equal((await call(cp.url, 'DELETE', '/v1/resources/Route/shop/shop')).status, 200);
      const removed = await next(watch, (s) => s.routes.length === 0);
      assert.equal(removed.exists, true);
      assert.equal(watch.current, removed);

      assert.equal((await call(cp.url, 'DELETE', '/v1/resources/Gateway/shop/edge')).status, 200);
      const gone = await next(watch, (s) => !s.exists);
      assert.equal(gone.config, null);
    } finally {
      await watch.close();
    }
  });
});
