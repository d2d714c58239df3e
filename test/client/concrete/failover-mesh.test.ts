/**
 * Failover and route backends by cluster through a whole mesh (createMesh, loopback servers), with
 * discovery from a static resolver whose endpoints get their cluster from a label (the issue 17 seam):
 * which clusters a Service's failover list opens, what a backend pinned to a cluster reaches, and the
 * error a pinned cluster with no instance gives.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { routeResourceSchema, serviceSpecSchema } from '../../../src/config/resources.js';
import { ErrorCode, isMeshError } from '../../../src/core/errors.js';
import { StaticResolver, type StaticEndpoint } from '../../../src/discovery/static-resolver.js';
import { createMesh, type Mesh } from '../../../src/index.js';
import { ClusterTagResolver } from '../../helpers/cluster-tag-resolver.js';
import { startNamedServer, type TestServer } from '../../helpers/http-servers.js';

const LABEL = 'test-cluster';

describe('failover and pinned clusters through a mesh (loopback)', () => {
  const servers: Record<string, TestServer> = {};
  let statics: StaticResolver;
  let mesh: Mesh;
  const endpoint = (name: string, cluster?: string): StaticEndpoint => ({ address: '127.0.0.1', port: servers[name]!.port, labels: cluster === undefined ? {} : { [LABEL]: cluster } });
  const routes = [
    routeResourceSchema.parse({
      apiVersion: 'hyphae.dev/v1',
      kind: 'Route',
      metadata: { name: 'by-cluster' },
      spec: {
        parentRefs: [{ name: 'api' }],
        rules: ['dc3', 'dc7'].map((c) => ({ matches: [{ headers: [{ name: 'x-cluster', value: c }] }], backendRefs: [{ name: 'api', cluster: c }] })),
      },
    }),
  ];

  before(async () => {
    for (const name of ['home', 'dc2', 'dc3']) servers[name] = await startNamedServer(name);
    statics = new StaticResolver({ api: [endpoint('home'), endpoint('dc2', 'dc2'), endpoint('dc3', 'dc3')] });
    statics.configure('api', { config: serviceSpecSchema.parse({ loadBalancer: 'round_robin', failover: [{ cluster: 'dc2' }] }), routes });
    mesh = await createMesh({ resolver: new ClusterTagResolver(statics, LABEL) });
  });

  after(async () => {
    await mesh?.close();
    for (const s of Object.values(servers)) await s.close();
  });

  async function who(n: number, headers: Record<string, string> = {}): Promise<Record<string, number>> {
    const out: Record<string, number> = {};
    for (let i = 0; i < n; i++) {
      const res = await mesh.request('http://api/', { headers });
      const { name } = (await res.body.json()) as { name: string };
      out[name] = (out[name] ?? 0) + 1;
    }
    return out;
  }

  it('stays home, sends a pinned backend to its cluster (listed or not), and names the cluster when it has no instance', async () => {
    assert.deepEqual(await who(20), { home: 20 });
    assert.deepEqual(await who(10, { 'x-cluster': 'dc3' }), { dc3: 10 }, 'dc3 is not in the failover list, but the route names it');
    const err: unknown = await mesh.request('http://api/', { headers: { 'x-cluster': 'dc7' } }).then(
      () => undefined,
      (e: unknown) => e,
    );
    assert.ok(isMeshError(err, ErrorCode.NO_ENDPOINTS), String(err));
    assert.match(err.message, /service api has no endpoints in cluster dc7/);
    assert.equal(err.details?.cluster, 'dc7');
  });

  it('fails over to listed clusters only; without a list, uses peers only while no local instance exists', async () => {
    statics.set('api', [endpoint('dc2', 'dc2'), endpoint('dc3', 'dc3')]);
    assert.deepEqual(await who(20), { dc2: 20 }, 'home gone: dc2 (listed), never dc3');
    statics.configure('api', { config: serviceSpecSchema.parse({ loadBalancer: 'round_robin' }), routes });
    assert.deepEqual(await who(20), { dc2: 10, dc3: 10 }, 'no list and no local instance: the service lives in its peers');
    statics.set('api', [endpoint('home'), endpoint('dc2', 'dc2'), endpoint('dc3', 'dc3')]);
    assert.deepEqual(await who(20), { home: 20 }, 'a local instance again: only home');
  });
});
