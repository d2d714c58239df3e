import assert from 'node:assert/strict';
import { it } from 'node:test';
import { createMesh } from '../../../src/index.js';
import { StaticResolver } from '../../../src/extend.js';
import { routeResourceSchema } from '../../../src/config/resources.js';
import { startEchoServer } from '../../helpers/labelled-servers.js';

it('smoke', async () => {
  const a = await startEchoServer('a');
  const b = await startEchoServer('b');
  const resolver = new StaticResolver({
    api: [
      { address: '127.0.0.1', port: a.port, labels: { version: 'v1' } },
      { address: '127.0.0.1', port: b.port, labels: { version: 'v2' } },
    ],
  });
  const route = routeResourceSchema.parse({
    apiVersion: 'hyphae.dev/v1', kind: 'Route', metadata: { name: 'r' },
    spec: { parentRefs: [{ name: 'api' }], rules: [
      { matches: [{ path: { type: 'PathPrefix', value: '/v2' } }], backendRefs: [{ name: 'api', subset: 'v2' }],
        filters: [{ type: 'URLRewrite', urlRewrite: { path: { type: 'ReplacePrefixMatch', replacePrefixMatch: '/' } } }, { type: 'RequestHeaderModifier', requestHeaderModifier: { set: [{ name: 'X-Routed', value: 'yes' }] } }] },
      { matches: [{ headers: [{ name: 'x-canary', value: 'true' }] }], backendRefs: [{ name: 'api', subset: 'v2' }] },
      { backendRefs: [{ name: 'api', subset: 'v1' }] },
    ] },
  });
  resolver.configure('api', { config: { loadBalancer: 'round_robin', subsets: [{ name: 'v1', labels: { version: 'v1' } }, { name: 'v2', labels: { version: 'v2' } }] }, routes: [route] });
  const mesh = await createMesh({ resolver });
  try {
    for (const [path, headers, want] of [['/v2/items?q=1', {}, 'b'], ['/v1/x', {}, 'a'], ['/x', { 'X-Canary': 'true' }, 'b'], ['/x', {}, 'a']] as const) {
      const r = await mesh.request(`http://api${path}`, { headers });
      const body = (await r.body.json()) as { name: string; url: string; headers: Record<string, string> };
      console.log(path, body.name, body.url, body.headers['x-routed']);
      assert.equal(body.name, want);
    }
  } finally {
    await mesh.close();
    await a.close();
    await b.close();
  }
});
