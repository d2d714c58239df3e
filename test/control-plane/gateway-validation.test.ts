/** Gateways and the routes attached to them, validated on apply and delete by a real control plane: every problem listed, nothing stored. */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { call, startControlPlane, type ErrorResponse, type RunningControlPlane } from '../helpers/control-plane.js';

const TLS = { certificateFile: '/etc/tls/shop.crt', keyFile: '/etc/tls/shop.key' };
const service = (name: string) => ({ apiVersion: 'hyphae.dev/v1', kind: 'Service', metadata: { name } });
const gateway = (name: string, listeners: unknown[], namespace = 'default') => ({ apiVersion: 'hyphae.dev/v1', kind: 'Gateway', metadata: { name, namespace }, spec: { listeners } });
const EDGE = gateway('edge', [
  { name: 'http', port: 8080, protocol: 'HTTP' },
  { name: 'shop', port: 8443, protocol: 'HTTPS', hostname: 'shop.example.com', tls: TLS },
]);
const route = (name: string, parentRefs: unknown[], extra: Record<string, unknown> = {}, namespace = 'default') => ({
  apiVersion: 'hyphae.dev/v1',
  kind: 'Route',
  metadata: { name, namespace },
  spec: { parentRefs, rules: [{ backendRefs: [{ name: 'web' }] }], ...extra },
});

interface Issues {
  paths: string[];
  messages: Record<string, string>;
  /** Every issue as `path: message`, in order (several may share a path). */
  all: string[];
}

describe('Gateway validation on apply and delete', () => {
  let cp: RunningControlPlane;

  before(async () => {
    cp = await startControlPlane();
    const res = await call(cp.url, 'PUT', '/v1/resources', { items: [service('web'), EDGE, route('shop', [{ kind: 'Gateway', name: 'edge', sectionName: 'shop' }])] });
    assert.equal(res.status, 200, res.text);
  });
  after(() => cp?.stop());

  async function rejected(body: unknown, method = 'PUT', path = '/v1/resources'): Promise<Issues> {
    const res = await call<ErrorResponse['body']>(cp.url, method, path, body);
    assert.equal(res.status, 400, res.text);
    assert.equal(res.body.error.code, 'HYPHAE_ERR_INVALID_CONFIG');
    const issues = res.body.error.issues ?? [];
    return { paths: issues.map((i) => i.path), messages: Object.fromEntries(issues.map((i) => [i.path, i.message])), all: issues.map((i) => `${i.path}: ${i.message}`) };
  }

  const revision = async () => (await call<{ revision: number }>(cp.url, 'GET', '/v1/health')).body.revision;

  it('lists every attachment problem of a batch: unknown gateway, unknown listener, hostnames that miss, backends', async () => {
    const rev = await revision();
    const r = await rejected({
      items: [
        route('a', [{ kind: 'Gateway', name: 'nosuch' }]),
        route('b', [{ kind: 'Gateway', name: 'edge', sectionName: 'https' }]),
        route('c', [{ kind: 'Gateway', name: 'edge', sectionName: 'shop' }], { hostnames: ['www.example.com'] }),
        route('d', [{ kind: 'Gateway', name: 'edge' }], { hostnames: ['shop.example.com'], rules: [{ backendRefs: [{ name: 'ghost' }] }] }),
      ],
    });
    assert.deepEqual(r.paths, ['items[0].spec.parentRefs[0].name', 'items[1].spec.parentRefs[0].sectionName', 'items[2].spec.hostnames', 'items[3].spec.rules[0].backendRefs[0].name']);
    assert.match(r.messages['items[0].spec.parentRefs[0].name']!, /unknown gateway default\/nosuch: there is no Gateway resource/);
    assert.match(r.messages['items[1].spec.parentRefs[0].sectionName']!, /Gateway default\/edge has no listener "https" \(it has http, shop\)/);
    assert.match(r.messages['items[2].spec.hostnames']!, /no hostname of the route intersects a hostname of Gateway default\/edge's listener "shop" \(shop\.example\.com\)/);
    assert.match(r.messages['items[3].spec.rules[0].backendRefs[0].name']!, /unknown service default\/ghost/);
    assert.equal(await revision(), rev, 'nothing was stored');
  });

  it('accepts a route whose hostnames intersect some listener, and a Gateway and its routes in one batch', async () => {
    const ok = await call(cp.url, 'PUT', '/v1/resources', {
      items: [
        route('wild', [{ kind: 'Gateway', name: 'edge' }], { hostnames: ['*.example.com'] }),
        route('infra-route', [{ kind: 'Gateway', name: 'infra-gw' }], {}, 'infra'),
        gateway('infra-gw', [{ name: 'http', port: 9090, protocol: 'HTTP' }], 'infra'),
        { ...service('web'), metadata: { name: 'web', namespace: 'infra' } },
      ],
    });
    assert.equal(ok.status, 200, ok.text);
  });

  it('refuses a route from another namespace unless the listener allows All', async () => {
    const r = await rejected(route('foreign', [{ kind: 'Gateway', name: 'edge', namespace: 'default' }], {}, 'infra'));
    assert.match(r.messages['spec.parentRefs[0]']!, /Gateway default\/edge takes Routes from its own namespace only .* this route is in namespace infra/);
    const open = await call(cp.url, 'PUT', '/v1/resources', {
      items: [
        gateway('shared', [{ name: 'http', port: 7070, protocol: 'HTTP', allowedRoutes: { namespaces: { from: 'All' } } }]),
        route('foreign', [{ kind: 'Gateway', name: 'shared', namespace: 'default' }], {}, 'infra'),
      ],
    });
    assert.equal(open.status, 200, open.text);
  });

  it('refuses a Gateway change that would strand stored routes, naming each', async () => {
    const rev = await revision();
    const r = await rejected(gateway('edge', [{ name: 'http', port: 8080, protocol: 'HTTP', hostname: 'www.example.org' }]));
    const msgs = r.all.join('\n');
    assert.equal(r.all.length, 2, msgs);
    assert.ok(
      r.paths.every((p) => p === 'spec.listeners'),
      msgs,
    );
    assert.match(msgs, /Route default\/shop \(spec\.parentRefs\[0\]\) would no longer attach: Gateway default\/edge has no listener "shop"/);
    assert.match(msgs, /Route default\/wild \(spec\.parentRefs\[0\]\) would no longer attach: no hostname of the route intersects/);
    assert.equal(await revision(), rev);
  });

  it('refuses deleting a Gateway that routes attach to; deletes it once they are gone', async () => {
    const r = await rejected(undefined, 'DELETE', '/v1/resources/Gateway/default/shared');
    assert.match(r.all.join('\n'), /metadata\.name: Route infra\/foreign \(spec\.parentRefs\[0\]\) is attached to this Gateway/);
    assert.equal((await call(cp.url, 'DELETE', '/v1/resources/Route/infra/foreign')).status, 200);
    assert.equal((await call(cp.url, 'DELETE', '/v1/resources/Gateway/default/shared')).status, 200);
  });

  it('refuses a second LocalRateLimit in one rule', async () => {
    const rate = { type: 'LocalRateLimit', localRateLimit: { requests: 10, unit: 'Second' } };
    const r = await rejected(route('limited', [{ kind: 'Gateway', name: 'edge' }], { rules: [{ filters: [rate, rate], backendRefs: [{ name: 'web' }] }] }));
    assert.match(r.messages['spec.rules[0].filters[1]']!, /a rule takes one LocalRateLimit filter \(also filters\[0\]\)/);
  });
});
