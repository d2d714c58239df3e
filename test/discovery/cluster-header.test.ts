/**
 * How a workload learns its cluster (issue 17): from the `hyphae-cluster` header of the control plane's
 * answers, on calls and on the watch stream. Loopback servers stand in for control planes of each age: one
 * that predates clusters (no header: the cluster stays unknown), replicas that name it, and one whose header
 * is malformed (never taken).
 */
import assert from 'node:assert/strict';
import type http from 'node:http';
import { after, describe, it } from 'node:test';
import { silentLogger } from '../../src/core/logger.js';
import { ControlPlaneClient } from '../../src/discovery/control-plane-client.js';
import { ControlPlaneResolver } from '../../src/discovery/control-plane-resolver.js';
import type { ResolverUpdate } from '../../src/discovery/resolver.js';
import { WatchStream } from '../../src/discovery/watch-stream.js';
import { startNamedServer, type TestServer } from '../helpers/http-servers.js';
import { snapshot } from '../helpers/snapshots.js';

/** A control plane that answers every call with `cluster` in its header (none when undefined). */
const controlPlane =
  (cluster: () => string | string[] | undefined): http.RequestListener =>
  (req, res) => {
    const named = cluster();
    if (named !== undefined) res.setHeader('hyphae-cluster', named);
    if (req.url!.startsWith('/v1/watch')) {
      res.writeHead(200, { 'content-type': 'text/event-stream' });
      res.write('event: hello\ndata: {"streamId":"s1","revision":1,"heartbeatMs":1000}\n\n');
      return;
    }
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ status: 'ok', revision: 1 }));
  };

describe('the cluster a control plane names', () => {
  const servers: TestServer[] = [];
  const clients: ControlPlaneClient[] = [];
  after(async () => {
    await Promise.all(clients.map((c) => c.close()));
    await Promise.all(servers.map((s) => s.close()));
  });
  const start = async (name: string, cluster: () => string | string[] | undefined) => {
    const s = await startNamedServer(name, controlPlane(cluster));
    servers.push(s);
    return `http://127.0.0.1:${s.port}`;
  };
  const client = (urls: string[]) => {
    const c = new ControlPlaneClient(urls, { timeoutMs: 2_000 });
    clients.push(c);
    return c;
  };

  it('a control plane that predates clusters sends no header: the cluster stays unknown, and no event is heard', async () => {
    const c = client([await start('older', () => undefined)]);
    const heard: string[] = [];
    c.onCluster((name) => heard.push(name));
    assert.equal((await c.health()).status, 'ok');
    assert.equal(c.cluster, undefined);
    assert.deepEqual(heard, []);
  });

  it('learns the name from the first answer, tells it once, and takes no malformed one', async () => {
    let named: string | string[] | undefined = 'dc1';
    const c = client([await start('dc1', () => named)]);
    const heard: string[] = [];
    c.onCluster((name) => heard.push(name));
    assert.equal(c.cluster, undefined, 'unknown before any answer');
    await c.health();
    await c.call('GET', '/v1/services');
    assert.equal(c.cluster, 'dc1');
    assert.deepEqual(heard, ['dc1'], 'the same name again is no change');
    // Malformed, oversized, empty, or named twice (two headers: which would be meant?).
    for (const bad of ['DC_1', 'dc1.example', '-dc1', 'a'.repeat(64), 'x'.repeat(8_000), '', ['dc2', 'dc3']]) {
      named = bad;
      await c.health();
      assert.equal(c.cluster, 'dc1', `${JSON.stringify(bad).slice(0, 40)} is not a cluster name`);
    }
    named = undefined;
    await c.health();
    assert.equal(c.cluster, 'dc1', 'an answer without the header (an older replica mid-upgrade) leaves the name learnt');
    named = 'dc2';
    await c.health();
    assert.equal(c.cluster, 'dc2');
    assert.deepEqual(heard, ['dc1', 'dc2']);
  });

  it('the watch stream names it too: a client that has made no call yet learns it when its stream opens', async () => {
    const url = await start('stream', () => 'dc3');
    const c = client([url]);
    const abort = new AbortController();
    const res = await c.openStream(url, '/v1/watch?services=', abort.signal);
    try {
      assert.equal(res.statusCode, 200);
      assert.equal(c.cluster, 'dc3');
    } finally {
      abort.abort();
      await res.body.dump().catch(() => {});
    }
  });
});

describe("an endpoint's cluster from a snapshot", () => {
  it("an imported instance keeps its cluster; a local one gets none (it runs in the control plane's)", async () => {
    const snap = snapshot('api', [7001, 7002]);
    snap.instances[1] = { ...snap.instances[1]!, cluster: 'dc2' };
    // The snapshot reaches the resolver from its last-known-good fallback: no control plane needed for this.
    const client = new ControlPlaneClient(['http://127.0.0.1:9'], { timeoutMs: 200 });
    const stream = new WatchStream(client, silentLogger);
    const resolver = new ControlPlaneResolver(stream, { serveImmediately: true, get: (ref) => (ref === 'default/api' ? snap : undefined) });
    try {
      const update = await new Promise<ResolverUpdate>((resolve) => resolver.watch({ namespace: 'default', name: 'api' }, resolve));
      assert.equal(update.type, 'reset');
      const endpoints = (update as Extract<ResolverUpdate, { type: 'reset' }>).endpoints;
      assert.deepEqual(
        endpoints.map((e) => [e.port, e.cluster]),
        [
          [7001, undefined],
          [7002, 'dc2'],
        ],
      );
      assert.ok(!('cluster' in endpoints[0]!), 'no cluster key on a local endpoint');
    } finally {
      await resolver.close();
      await stream.close();
      await client.close();
    }
  });
});
