/**
 * A gateway call belongs to the backend its rule chose, not to the "carrier"
 * destination it travels through (issue 16's three gaps), end to end: the
 * control plane as a child process, services `a` and `b` built with the
 * library under mTLS, the gateway in process, real curl outside. The routes'
 * first backend is `a`, so `a` is the carrier of every call here.
 *
 *   1. limits: b's concurrency limit refuses b's calls, a's calls pass;
 *   2. timeouts: a rule without its own takes b's Service timeouts, a rule
 *      with some merges them with b's, and a change of b's spec applies live;
 *   3. the gateway's rules are counted per rule, with the Gateway as parent.
 */
import assert from 'node:assert/strict';
import type http from 'node:http';
import { after, before, describe, it } from 'node:test';
import { DEFAULT_ROUTE } from '../../src/core/route-keys.js';
import { routeRows, type MeshSummary } from '../../src/cli/stats-format.js';
import type { RunningGateway } from '../../src/gateway/start-gateway.js';
import { call, startControlPlane, type RunningControlPlane } from '../helpers/control-plane.js';
import { waitUntil } from '../helpers/hostile-peers.js';
import { apply, boundPort, curl, meta, startBackend, startTestGateway, type Backend, type Echo } from '../helpers/gateway.js';

const STALL_MS = 30_000;
const API = 'hyphae.dev/v1';
const GATEWAY = 'Gateway/default/edge';

function service(name: string, spec: object): object {
  return { apiVersion: API, kind: 'Service', metadata: meta(name), spec };
}

/** b: one call at a time and none waiting; calls to it take 400 ms at most unless `requestTimeout` says otherwise. */
const serviceB = (requestTimeout: string) => service('b', { limits: { maxConcurrent: 1, maxPending: 0 }, timeouts: { request: requestTimeout } });

const ROUTE = {
  apiVersion: API,
  kind: 'Route',
  metadata: meta('split-route'),
  spec: {
    parentRefs: [{ kind: 'Gateway', name: 'edge' }],
    rules: [
      // First: `a` is the carrier of every call of the gateway.
      { name: 'to-a', matches: [{ path: { type: 'PathPrefix', value: '/a' } }], backendRefs: [{ name: 'a' }] },
      // Its own request timeout (long enough to hold the call), over b's spec.
      { name: 'hold-b', matches: [{ path: { type: 'PathPrefix', value: '/b/hold' } }], timeouts: { request: '60s' }, backendRefs: [{ name: 'b' }] },
      { name: 'to-b', matches: [{ path: { type: 'PathPrefix', value: '/b' } }], backendRefs: [{ name: 'b' }] },
      // Only a per-try timeout of its own: the request timeout is b's.
      { name: 'per-try-b', matches: [{ path: { type: 'PathPrefix', value: '/per-try' } }], timeouts: { perTry: '50s' }, backendRefs: [{ name: 'b' }] },
      { name: 'counted', matches: [{ path: { type: 'PathPrefix', value: '/counted' } }], backendRefs: [{ name: 'a' }] },
    ],
  },
};

const code = (body: string): string => (JSON.parse(body) as { error: { code: string } }).error.code;

describe('hyphae gateway: limits, budgets, timeouts and stats of the backend a rule chose', () => {
  let cp: RunningControlPlane;
  let a: Backend;
  let b: Backend;
  let gw: RunningGateway;
  let port: number;
  /** b's responses held by the test (paths under /b/hold and /b/slow), and who waits for the next one. */
  const held: http.ServerResponse[] = [];
  let onHeld: (() => void) | undefined;
  const release = () => {
    for (const res of held.splice(0)) if (!res.writableEnded) res.end('released');
  };

  before(async () => {
    cp = await startControlPlane();
    await apply(cp, service('a', { limits: { maxConcurrent: 1, maxPending: 0 } }), serviceB('400ms'), {
      apiVersion: API,
      kind: 'Gateway',
      metadata: meta('edge'),
      spec: { listeners: [{ name: 'http', port: 8080, protocol: 'HTTP' }] },
    });
    await apply(cp, ROUTE);
    a = await startBackend(cp, 'a');
    b = await startBackend(cp, 'b', 'b', 0, (req, res) => {
      if (!req.url!.includes('/hold') && !req.url!.includes('/slow')) return false;
      held.push(res);
      onHeld?.();
      return true;
    });
    gw = await startTestGateway(cp, 'edge', [8080]);
    await gw.ready;
    port = boundPort(gw, 8080);
  });

  after(async () => {
    release();
    await gw?.close();
    await a?.close();
    await b?.close();
    await cp?.stop();
  });

  const get = (path: string) => curl([`http://127.0.0.1:${port}${path}`]);
  const echo = async (path: string): Promise<Echo> => {
    const r = await get(path);
    assert.equal(r.status, 200, `${path}: ${r.body}`);
    return JSON.parse(r.body) as Echo;
  };
  /** The budget the call's last hop was given (x-hyphae-deadline-ms), undefined when it had none. */
  const budgetOf = async (path: string): Promise<number | undefined> => {
    const v = (await echo(path)).headers['x-hyphae-deadline-ms'];
    return v === undefined ? undefined : Number(v);
  };

  it("b's limit refuses b's calls with its code while a's calls, through a as carrier, still pass", async () => {
    const heldNow = new Promise<void>((resolve) => (onHeld = resolve));
    const holding = get('/b/hold');
    await heldNow;
    onHeld = undefined;
    try {
      const refused = await get('/b/second');
      assert.equal(refused.status, 503, refused.body);
      assert.equal(code(refused.body), 'HYPHAE_ERR_CONCURRENCY_LIMIT');
      assert.match(refused.body, /too many calls to b\b/, 'the limit named is b’s, not the carrier’s');
      // a's limit is 1 too: b's call in flight holds none of it.
      assert.equal((await echo('/a/while-b-is-full')).service, 'a');
      assert.equal((await echo('/a/again')).service, 'a');
    } finally {
      release();
    }
    const done = await holding;
    assert.equal(done.status, 200, done.body);
    assert.equal(done.body, 'released');
    // b's slot is back once its call ended.
    assert.equal((await echo('/b/after')).service, 'b');
  });

  it("a rule without timeouts takes b's Service timeouts, a rule with a per-try one merges with them, and a's calls get a's", async () => {
    const direct = await budgetOf('/b/echo');
    assert.ok(direct !== undefined && direct > 0 && direct <= 400, `b's 400 ms request timeout reaches b, got ${direct}`);
    const merged = await budgetOf('/per-try/echo');
    assert.ok(merged !== undefined && merged > 0 && merged <= 400, `b's request timeout under the rule's per-try one, got ${merged}`);
    assert.equal(await budgetOf('/a/echo'), undefined, 'a has no timeouts: the carrier gets none of b’s');

    const slow = await get('/b/slow');
    release();
    assert.equal(slow.status, 504, slow.body);
    assert.equal(code(slow.body), 'HYPHAE_ERR_DEADLINE_EXCEEDED');
  });

  it("a change to b's Service timeouts applies live, to rules with and without their own", async () => {
    await apply(cp, serviceB('9s'));
    await waitUntil(async () => ((await budgetOf('/b/echo')) ?? 0) > 400, STALL_MS, 'b’s new request timeout reaches the gateway');
    const direct = (await budgetOf('/b/echo'))!;
    assert.ok(direct <= 9000, `at most b's 9 s, got ${direct}`);
    const merged = await budgetOf('/per-try/echo');
    assert.ok(merged !== undefined && merged > 400 && merged <= 9000, `the merged rule follows b's spec, got ${merged}`);
    await apply(cp, serviceB('400ms'));
    await waitUntil(async () => ((await budgetOf('/per-try/echo')) ?? Infinity) <= 400, STALL_MS, 'and back');
  });

  it('the gateway’s calls are counted per rule with the Gateway as parent, where a Service’s routes are, and none as the carrier’s', async () => {
    for (let i = 0; i < 5; i++) await echo(`/counted/${i}`);
    const none = await get('/no-rule-matches');
    assert.equal(none.status, 404, none.body);
    let summary: MeshSummary | undefined;
    const rowOf = (s: MeshSummary, route: string, rule: string | null) => s.routeTraffic.find((r) => r.destination === GATEWAY && r.route === route && r.rule === rule);
    await waitUntil(
      async () => {
        summary = (await call<MeshSummary>(cp.url, 'GET', '/v1/stats/summary?window=60')).body;
        return rowOf(summary, 'default/split-route', 'counted')?.requests === 5 && (rowOf(summary, DEFAULT_ROUTE, null)?.requests ?? 0) >= 1;
      },
      STALL_MS,
      'the gateway reports its rules',
    );
    const s = summary!;
    assert.equal(rowOf(s, DEFAULT_ROUTE, null)!.errors, rowOf(s, DEFAULT_ROUTE, null)!.requests, 'an unmatched call is a failure of the Gateway’s [default]');
    assert.ok(rowOf(s, 'default/split-route', 'to-b')!.requests >= 5, 'b’s calls under their rule');
    assert.ok(rowOf(s, 'default/split-route', 'to-a')!.requests >= 3);
    const fromGateway = s.edges.filter((e) => e.source === 'default/edge');
    assert.deepEqual(
      fromGateway.map((e) => e.destination),
      [GATEWAY],
      'every call of the gateway is its Gateway’s; the carrier a counts none',
    );
    // `hyphae top --routes` and `describe`: every rule of the Gateway's routes, as a Service's are listed.
    const rows = routeRows(s, (d) => d === GATEWAY);
    assert.deepEqual(
      rows.map((r) => r.rule),
      ['to-a', 'hold-b', 'to-b', 'per-try-b', 'counted', null],
    );
  });
});
