/**
 * Must-show 1 and 7 of issue 4, with a real control plane and api instances:
 * path routing (/v1 -> v1, /v2 -> v2, the Consul traffic-routing demo),
 * header routing (x-canary: true -> v2, the rest -> v1), and bad config
 * rejected with its field path while the last good config keeps serving.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { createMesh, type Mesh } from '../../src/index.js';
import { call, startControlPlane, type ErrorResponse, type RunningControlPlane } from '../helpers/control-plane.js';
import { startApi, type RunningService } from '../helpers/services.js';
import { API_SUBSETS, apply, ask, countBy, routeDoc, serviceDoc, type ApiAnswer } from './traffic-helpers.js';

describe('traffic routing by path and header (real control plane, api v1 x2 and v2 x1)', () => {
  let cp: RunningControlPlane;
  let apis: RunningService[] = [];
  let mesh: Mesh;

  before(async () => {
    cp = await startControlPlane();
    apis = await Promise.all(['v1', 'v1', 'v2'].map((v) => startApi(cp, v)));
    await apply(cp.url, serviceDoc('api', { subsets: API_SUBSETS }));
    mesh = await createMesh(await cp.meshOptions('client'));
  });
  after(async () => {
    await mesh?.close();
    await Promise.all(apis.map((a) => a.child.kill()));
    await cp?.stop();
  });

  it('path routing: /v1 -> subset v1, /v2 -> subset v2', async () => {
    await apply(
      cp.url,
      routeDoc('by-path', [
        { name: 'v1', matches: [{ path: { type: 'PathPrefix', value: '/v1' } }], backendRefs: [{ name: 'api', subset: 'v1' }] },
        { name: 'v2', matches: [{ path: { type: 'PathPrefix', value: '/v2' } }], backendRefs: [{ name: 'api', subset: 'v2' }] },
      ]),
    );
    await eventually(async () => (await ask(mesh, '/v2/items')).version === 'v2');
    const v1 = await many(200, () => ask(mesh, '/v1/items'));
    const v2 = await many(200, () => ask(mesh, '/v2/items'));
    console.log(
      '/v1/items answered by',
      countBy(v1, (a) => a.version),
      'instances',
      countBy(v1, (a) => a.instance),
    );
    console.log(
      '/v2/items answered by',
      countBy(v2, (a) => a.version),
    );
    assert.deepEqual(
      countBy(v1, (a) => a.version),
      { v1: 200 },
    );
    assert.deepEqual(
      countBy(v2, (a) => a.version),
      { v2: 200 },
    );
    assert.equal(Object.keys(countBy(v1, (a) => a.instance)).length, 2, 'both v1 instances share /v1');
    assert.ok(
      v1.every((a) => a.path === '/v1/items'),
      'the path reaches the instance unchanged',
    );
  });

  it('header routing: x-canary: true -> v2, everything else -> v1', async () => {
    await apply(
      cp.url,
      routeDoc('by-path', [
        { name: 'canary', matches: [{ headers: [{ name: 'x-canary', value: 'true' }] }], backendRefs: [{ name: 'api', subset: 'v2' }] },
        { name: 'stable', backendRefs: [{ name: 'api', subset: 'v1' }] },
      ]),
    );
    await eventually(async () => (await ask(mesh, '/v2/items')).version === 'v1');
    const canary = await many(200, () => ask(mesh, '/items', { 'x-canary': 'true' }));
    const rest = await many(200, (i) => ask(mesh, i % 2 ? '/v2/items' : '/items', i % 3 ? {} : { 'x-canary': 'false' }));
    console.log(
      'x-canary: true answered by',
      countBy(canary, (a) => a.version),
      '; the rest by',
      countBy(rest, (a) => a.version),
    );
    assert.deepEqual(
      countBy(canary, (a) => a.version),
      { v2: 200 },
    );
    assert.deepEqual(
      countBy(rest, (a) => a.version),
      { v1: 200 },
    );
  });

  it('bad config is rejected with its field path, and the last good config keeps serving', async () => {
    // Traffic runs through every rejection; it must keep following the canary route.
    const answers: ApiAnswer[] = [];
    let stop = false;
    const traffic = (async () => {
      for (let i = 0; !stop; i++) answers.push(await ask(mesh, '/items', i % 2 ? { 'x-canary': 'true' } : {}));
    })();

    const cases: [string, unknown, string, RegExp][] = [
      ['unknown kind', { apiVersion: 'hyphae.dev/v1', kind: 'Gadget', metadata: { name: 'x' } }, 'items[0].kind', /must be one of: Service, Route/],
      [
        'a regex that does not compile',
        routeDoc('by-path', [{ matches: [{ path: { type: 'RegularExpression', value: '/v(1|2' } }], backendRefs: [{ name: 'api', subset: 'v2' }] }]),
        'items[0].spec.rules[0].matches[0].path.value',
        /does not compile/,
      ],
      [
        'all weights zero',
        routeDoc('by-path', [
          {
            backendRefs: [
              { name: 'api', subset: 'v1', weight: 0 },
              { name: 'api', subset: 'v2', weight: 0 },
            ],
          },
        ]),
        'items[0].spec.rules[0].backendRefs',
        /every backend has weight 0/,
      ],
      [
        'a subset no instance carries',
        routeDoc('by-path', [
          {
            backendRefs: [
              { name: 'api', subset: 'v1' },
              { name: 'api', subset: 'v3' },
            ],
          },
        ]),
        'items[1].spec.rules[0].backendRefs[1].subset',
        /no registered instance of default\/api carries the labels of subset "v3" \(version=v3\)/,
      ],
      ['a route to an unknown service', routeDoc('by-path', [{ backendRefs: [{ name: 'payments' }] }]), 'items[0].spec.rules[0].backendRefs[0].name', /unknown service default\/payments/],
    ];
    const revision = (await call<{ revision: number }>(cp.url, 'GET', '/v1/health')).body.revision;
    for (const [what, doc, path, message] of cases) {
      // The subset case also defines v3 on the Service, in the same batch: the whole batch is refused.
      const items = what === 'a subset no instance carries' ? [serviceDoc('api', { subsets: [...API_SUBSETS, { name: 'v3', labels: { version: 'v3' } }] }), doc] : [doc];
      const res = await call<ErrorResponse['body']>(cp.url, 'PUT', '/v1/resources', { items });
      assert.equal(res.status, 400, what);
      assert.equal(res.body.error.code, 'HYPHAE_ERR_INVALID_CONFIG', what);
      const issue = res.body.error.issues?.find((i) => i.path === path);
      assert.ok(issue, `${what}: expected an issue at ${path}, got ${JSON.stringify(res.body.error.issues)}`);
      assert.match(issue.message, message, what);
      console.log(`rejected (${what}): ${issue.path}: ${issue.message}`);
    }
    assert.equal((await call<{ revision: number }>(cp.url, 'GET', '/v1/health')).body.revision, revision, 'nothing was stored');
    // Give a (wrongly) pushed config time to arrive before judging the traffic.
    await new Promise((r) => setTimeout(r, 300));
    // And at least 50 requests in all (a busy machine may have sent fewer by now): the stream went on throughout.
    const deadline = performance.now() + 30_000;
    while (answers.length <= 50 && performance.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    stop = true;
    await traffic;
    const wrong = answers.filter((a, i) => a.status !== 200 || a.version !== (i % 2 ? 'v2' : 'v1'));
    console.log(`${answers.length} requests during the rejections, ${wrong.length} failed or misrouted`);
    assert.ok(answers.length > 50);
    assert.deepEqual(wrong, []);
  });
});

async function many<T>(n: number, fn: (i: number) => Promise<T>): Promise<T[]> {
  const out: T[] = [];
  for (let i = 0; i < n; i++) out.push(await fn(i));
  return out;
}

/** Config reaches the client asynchronously (the watch stream): wait until it shows. */
async function eventually(check: () => Promise<boolean>, timeoutMs = 5_000): Promise<void> {
  const start = performance.now();
  while (!(await check())) {
    if (performance.now() - start > timeoutMs) throw new Error('the new config did not take effect in time');
    await new Promise((r) => setTimeout(r, 10));
  }
}
