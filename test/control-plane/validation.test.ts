/** Semantic validation of applies, against a real control plane: every problem at its path, nothing applied. */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { call, register, startControlPlane, type ErrorResponse, type RunningControlPlane } from '../helpers/control-plane.js';

const service = (name: string, spec: Record<string, unknown> = {}) => ({ apiVersion: 'hyphae.dev/v1', kind: 'Service', metadata: { name }, spec });
const routeOf = (name: string, rules: unknown[], parents: { name: string; namespace?: string }[] = [{ name: 'api' }]) => ({
  apiVersion: 'hyphae.dev/v1',
  kind: 'Route',
  metadata: { name },
  spec: { parentRefs: parents, rules },
});
const SUBSETS = {
  subsets: [
    { name: 'v1', labels: { version: 'v1' } },
    { name: 'v2', labels: { version: 'v2' } },
    { name: 'v9', labels: { version: 'v9' } },
  ],
};

interface Issues {
  status: number;
  paths: string[];
  messages: Record<string, string>;
  message: string;
}

describe('config validation on apply', () => {
  let cp: RunningControlPlane;

  before(async () => {
    cp = await startControlPlane();
    for (const version of ['v1', 'v2']) {
      await register(cp.url, { service: 'api', address: '127.0.0.1', port: version === 'v1' ? 9001 : 9002, labels: { version }, ttlSeconds: 300 });
    }
    await register(cp.url, { service: 'other', address: '127.0.0.1', port: 9003, labels: { role: 'x' }, ttlSeconds: 300 });
    const res = await call(cp.url, 'PUT', '/v1/resources', { items: [service('api', SUBSETS), routeOf('good', [{ backendRefs: [{ name: 'api', subset: 'v1' }] }])] });
    assert.equal(res.status, 200, res.text);
  });
  after(() => cp?.stop());

  async function rejected(body: unknown, query = ''): Promise<Issues> {
    const res = await call<ErrorResponse['body']>(cp.url, 'PUT', `/v1/resources${query}`, body);
    assert.equal(res.status, 400, res.text);
    assert.equal(res.body.error.code, 'HYPHAE_ERR_INVALID_CONFIG');
    const issues = res.body.error.issues ?? [];
    return { status: res.status, paths: issues.map((i) => i.path), messages: Object.fromEntries(issues.map((i) => [i.path, i.message])), message: res.body.error.message };
  }

  async function revision(): Promise<number> {
    return (await call<{ revision: number }>(cp.url, 'GET', '/v1/health')).body.revision;
  }

  it('rejects routes to unknown services, as parent, backend or mirror', async () => {
    const r = await rejected({
      items: [
        routeOf(
          'x',
          [{ backendRefs: [{ name: 'nosuch' }], filters: [{ type: 'RequestMirror', requestMirror: { backendRef: { name: 'ghost' } } }] }],
          [{ name: 'api' }, { name: 'missing', namespace: 'prod' }],
        ),
      ],
    });
    assert.deepEqual(r.paths, ['items[0].spec.parentRefs[1].name', 'items[0].spec.rules[0].backendRefs[0].name', 'items[0].spec.rules[0].filters[0].requestMirror.backendRef.name']);
    assert.match(r.messages['items[0].spec.parentRefs[1].name']!, /unknown service prod\/missing: there is no Service resource for it and no instance of it has registered/);
  });

  it('rejects regular expressions that do not compile, in paths, headers and query parameters', async () => {
    const r = await rejected(
      routeOf('x', [
        {
          matches: [
            { path: { type: 'RegularExpression', value: '/v([0-9]+' } },
            { headers: [{ type: 'RegularExpression', name: 'x-a', value: '[a-' }], queryParams: [{ type: 'RegularExpression', name: 'q', value: '*x' }] },
          ],
          backendRefs: [{ name: 'api' }],
        },
      ]),
    );
    // A single resource (not a list): paths start at the resource.
    assert.deepEqual(r.paths, ['spec.rules[0].matches[0].path.value', 'spec.rules[0].matches[1].headers[0].value', 'spec.rules[0].matches[1].queryParams[0].value']);
    assert.match(r.messages['spec.rules[0].matches[0].path.value']!, /regular expression "\/v\(\[0-9\]\+" does not compile \(RE2 syntax\): missing closing \)/);
    assert.match(r.messages['spec.rules[0].matches[1].queryParams[0].value']!, /missing argument to repetition operator/);
  });

  it('rejects, with the reason named, what RE2 does not have: backreferences, lookarounds, programs over the size cap', async () => {
    const before = await revision();
    const r = await rejected(
      routeOf('x', [
        {
          matches: [
            { path: { type: 'RegularExpression', value: '/(a)\\1' } },
            { path: { type: 'RegularExpression', value: '/api(?!/admin).*' } },
            { headers: [{ type: 'RegularExpression', name: 'x-a', value: '(?<=x)y' }], queryParams: [{ type: 'RegularExpression', name: 'q', value: '.{0,1000}' }] },
          ],
          backendRefs: [{ name: 'api' }],
        },
      ]),
    );
    assert.deepEqual(r.paths, [
      'spec.rules[0].matches[0].path.value',
      'spec.rules[0].matches[1].path.value',
      'spec.rules[0].matches[2].headers[0].value',
      'spec.rules[0].matches[2].queryParams[0].value',
    ]);
    assert.match(r.messages['spec.rules[0].matches[0].path.value']!, /uses a backreference \(\\1\), which RE2 syntax does not have/);
    assert.match(r.messages['spec.rules[0].matches[1].path.value']!, /uses a negative lookahead/);
    assert.match(r.messages['spec.rules[0].matches[2].headers[0].value']!, /uses a lookbehind/);
    assert.match(r.messages['spec.rules[0].matches[2].queryParams[0].value']!, /is too large: its RE2 program has 2002 instructions, above the limit of 1000/);
    assert.equal(await revision(), before, 'nothing was stored');
  });

  it('accepts patterns that backtrack catastrophically in V8: they run on the linear-time engine', async () => {
    const res = await call(cp.url, 'PUT', '/v1/resources?dryRun=true', {
      items: [
        routeOf('x', [
          { matches: [{ path: { type: 'RegularExpression', value: '/(a+)+$' } }, { headers: [{ type: 'RegularExpression', name: 'x-a', value: '(.*a){30}' }] }], backendRefs: [{ name: 'api' }] },
        ]),
      ],
    });
    assert.equal(res.status, 200, res.text);
  });

  it('rejects header values and rewrite paths with control characters (they would split the request)', async () => {
    const r = await rejected(
      routeOf('x', [
        {
          filters: [
            { type: 'RequestHeaderModifier', requestHeaderModifier: { set: [{ name: 'x-a', value: 'ok\r\nx-injected: 1' }] } },
            { type: 'URLRewrite', urlRewrite: { path: { type: 'ReplaceFullPath', replaceFullPath: '/ok\r\nx: y' } } },
          ],
          backendRefs: [{ name: 'api' }],
        },
      ]),
    );
    assert.deepEqual(r.paths, ['spec.rules[0].filters[0].requestHeaderModifier.set[0].value', 'spec.rules[0].filters[1].urlRewrite.path.replaceFullPath']);
  });

  it('rejects a rule whose backends all have weight 0', async () => {
    const r = await rejected({
      items: [
        routeOf('x', [
          {
            backendRefs: [
              { name: 'api', subset: 'v1', weight: 0 },
              { name: 'api', subset: 'v2', weight: 0 },
            ],
          },
        ]),
      ],
    });
    assert.deepEqual(r.paths, ['items[0].spec.rules[0].backendRefs']);
    assert.match(r.messages['items[0].spec.rules[0].backendRefs']!, /every backend has weight 0/);
  });

  it('rejects subsets the Service does not define, or that no registered instance carries', async () => {
    const r = await rejected({
      items: [
        routeOf('x', [
          {
            backendRefs: [
              { name: 'api', subset: 'v1' },
              { name: 'api', subset: 'v3' },
              { name: 'api', subset: 'v9' },
              { name: 'other', subset: 'v1' },
            ],
          },
        ]),
      ],
    });
    assert.deepEqual(r.paths, ['items[0].spec.rules[0].backendRefs[1].subset', 'items[0].spec.rules[0].backendRefs[2].subset', 'items[0].spec.rules[0].backendRefs[3].subset']);
    assert.match(r.messages['items[0].spec.rules[0].backendRefs[1].subset']!, /subset "v3" is not defined on Service default\/api \(spec.subsets: it defines v1, v2, v9\)/);
    assert.match(r.messages['items[0].spec.rules[0].backendRefs[2].subset']!, /no registered instance of default\/api carries the labels of subset "v9" \(version=v9\)/);
    assert.match(r.messages['items[0].spec.rules[0].backendRefs[3].subset']!, /there is no Service resource/);
  });

  it('rejects duplicate rule and subset names, ring_hash without a key, misplaced rewrites and repeated faults', async () => {
    const r = await rejected({
      items: [
        service('api', { ...SUBSETS, subsets: [...SUBSETS.subsets, { name: 'v1', labels: { version: 'x' } }], loadBalancer: 'ring_hash' }),
        routeOf('x', [
          { name: 'a', backendRefs: [{ name: 'api' }] },
          {
            name: 'a',
            matches: [{ path: { type: 'Exact', value: '/x' } }],
            filters: [
              { type: 'URLRewrite', urlRewrite: { path: { type: 'ReplacePrefixMatch', replacePrefixMatch: '/y' } } },
              { type: 'Fault', fault: { abort: { percent: 1, httpStatus: 503 } } },
              { type: 'Fault', fault: { abort: { percent: 2, httpStatus: 503 } } },
            ],
            backendRefs: [{ name: 'api' }],
          },
        ]),
      ],
    });
    assert.deepEqual(r.paths, [
      'items[0].spec.subsets[3].name',
      'items[0].spec.ringHash',
      'items[1].spec.rules[1].name',
      'items[1].spec.rules[1].filters[0].urlRewrite.path',
      'items[1].spec.rules[1].filters[2]',
    ]);
    assert.match(r.messages['items[1].spec.rules[1].name']!, /duplicate rule name "a" \(also spec.rules\[0\].name\)/);
  });

  it('lists schema problems and semantic problems of one batch together, in document order', async () => {
    const r = await rejected({
      items: [
        { apiVersion: 'hyphae.dev/v1', kind: 'Gadget', metadata: { name: 'x' } },
        routeOf('y', [{ backendRefs: [{ name: 'api', weight: 0 }] }]),
        { ...service('z'), spec: { loadBalancer: 'random' } },
      ],
    });
    assert.deepEqual(r.paths, ['items[0].kind', 'items[1].spec.rules[0].backendRefs', 'items[2].spec.loadBalancer']);
    assert.match(r.message, /^invalid resources \(nothing was applied\): /);
  });

  it('keeps the previous config in force: a rejected batch stores nothing', async () => {
    const rev = await revision();
    await rejected({ items: [service('new-service'), routeOf('good', [{ backendRefs: [{ name: 'api', subset: 'nope' }] }])] });
    assert.equal(await revision(), rev);
    assert.equal((await call(cp.url, 'GET', '/v1/resources/Service/default/new-service')).status, 404, 'the valid item was not applied either');
    const good = await call<{ resource: { spec: { rules: { backendRefs: { subset: string }[] }[] } } }>(cp.url, 'GET', '/v1/resources/Route/default/good');
    assert.equal(good.body.resource.spec.rules[0]!.backendRefs[0]!.subset, 'v1');
  });

  it('validates a batch against itself: a Service and the route using its new subset go together', async () => {
    const ok = await call(cp.url, 'PUT', '/v1/resources', {
      items: [routeOf('uses-other', [{ backendRefs: [{ name: 'other', subset: 'x' }] }]), service('other', { subsets: [{ name: 'x', labels: { role: 'x' } }] })],
    });
    assert.equal(ok.status, 200, ok.text);
  });

  it('refuses to remove a subset, or delete a Service, that a stored route uses', async () => {
    const r = await rejected({ items: [service('api', { subsets: [{ name: 'v2', labels: { version: 'v2' } }] })] });
    assert.deepEqual(r.paths, ['items[0].spec.subsets']);
    assert.match(r.messages['items[0].spec.subsets']!, /subset "v1" is used by Route default\/good \(spec.rules\[0\].backendRefs\[0\]\); change or delete the route first/);

    const del = await call<ErrorResponse['body']>(cp.url, 'DELETE', '/v1/resources/Service/default/api');
    assert.equal(del.status, 400);
    assert.match(del.body.error.message, /nothing was deleted/);
    assert.equal((await call(cp.url, 'GET', '/v1/resources/Service/default/api')).status, 200);
  });

  it('?dryRun=true validates and reports what would change, with before and after, storing nothing', async () => {
    const rev = await revision();
    const res = await call<{ dryRun: boolean; revision: number; results: { kind: string; name: string; action: string; before?: unknown; after: { spec: Record<string, unknown> } }[] }>(
      cp.url,
      'PUT',
      '/v1/resources?dryRun=true',
      { items: [service('api', { ...SUBSETS, loadBalancer: 'least_request' }), routeOf('good', [{ backendRefs: [{ name: 'api', subset: 'v1' }] }]), service('brand-new')] },
    );
    assert.equal(res.status, 200, res.text);
    assert.equal(res.body.dryRun, true);
    assert.deepEqual(
      res.body.results.map((r) => `${r.kind}/${r.name}:${r.action}`),
      ['Service/api:updated', 'Route/good:unchanged', 'Service/brand-new:created'],
    );
    assert.equal(res.body.results[0]!.after.spec.loadBalancer, 'least_request');
    assert.ok(res.body.results[0]!.before, 'the stored version comes along for diffs');
    assert.equal(res.body.results[2]!.after.spec.loadBalancer, 'peak_ewma', 'after is normalised (defaults filled in)');
    assert.equal(await revision(), rev);
    assert.equal((await call(cp.url, 'GET', '/v1/resources/Service/default/brand-new')).status, 404);

    const bad = await rejected({ items: [routeOf('x', [{ backendRefs: [{ name: 'api', weight: 0 }] }])] }, '?dryRun=true');
    assert.deepEqual(bad.paths, ['items[0].spec.rules[0].backendRefs']);
    const flag = await call<ErrorResponse['body']>(cp.url, 'PUT', '/v1/resources?dryRun=maybe', service('x'));
    assert.equal(flag.status, 400);
    assert.match(flag.body.error.message, /"dryRun" must be true or false/);
  });
});
