/**
 * `hyphae top --routes` and `hyphae describe service`'s route table: a real mesh (two services built with
 * the library, mTLS, on a real control plane child) calls through two Routes and around them, and the CLI,
 * a child process, shows each rule's calls exactly.
 */
import assert from 'node:assert/strict';
import http from 'node:http';
import { after, before, describe, it } from 'node:test';
import { parse as parseYaml } from 'yaml';
import { DEFAULT_ROUTE } from '../../src/core/route-keys.js';
import { createMesh, type Mesh } from '../../src/index.js';
import { runCli } from '../helpers/cli.js';
import { call, startControlPlane, type RunningControlPlane } from '../helpers/control-plane.js';

interface RouteRow {
  destination: string;
  route: string;
  rule: string | null;
  requests: number;
  errors: number;
  successRate: number | null;
  p50Ms: number | null;
  p99Ms: number | null;
}

const route = (name: string, rule: { name?: string; prefix: string }) => ({
  apiVersion: 'hyphae.dev/v1',
  kind: 'Route',
  metadata: { name },
  spec: { parentRefs: [{ name: 'api' }], rules: [{ ...(rule.name && { name: rule.name }), matches: [{ path: { type: 'PathPrefix', value: rule.prefix } }], backendRefs: [{ name: 'api' }] }] },
});

/** What the mesh below sends: 7 calls through api-items' rule "list", 4 through api-orders' unnamed rule (one answered 500), 3 that no Route matches. */
const EXPECTED = [
  ['api-items', 'list', 7, 0],
  ['api-orders', 'api-orders.0', 4, 1],
  [DEFAULT_ROUTE, null, 3, 0],
] as const;

describe('per-route traffic in hyphae top --routes and describe service', () => {
  let cp: RunningControlPlane;
  let flags: string[];
  let api: Mesh | undefined;

  before(async () => {
    cp = await startControlPlane();
    flags = [...cp.cliFlags, '--window', '60'];
    api = await createMesh({ ...(await cp.meshOptions('api')), server: { drainDelayMs: 50 }, telemetry: { statsIntervalMs: 60_000 } });
    const server = api.wrapServer(
      http.createServer((req, res) => {
        res.statusCode = req.url === '/orders/fail' ? 500 : 200;
        res.end('ok');
      }),
    );
    server.listen(0, '127.0.0.1');
    await api.registered(server);
    // A Route needs its service to exist: after api registered.
    for (const r of [route('api-items', { name: 'list', prefix: '/items' }), route('api-orders', { prefix: '/orders' })]) {
      const res = await call(cp.url, 'PUT', '/v1/resources', r);
      assert.equal(res.status, 200, res.text);
    }
    // The routes are in force before web's first call: it waits for discovery's first answer, which carries them.
    const web = await createMesh({ ...(await cp.meshOptions('web')), telemetry: { statsIntervalMs: 60_000 } });
    try {
      const paths = [...Array<string>(7).fill('/items/1'), '/orders', '/orders/2', '/orders/3', '/orders/fail', '/health', '/', '/other'];
      for (const p of paths) {
        const r = await web.request(`http://api${p}`);
        await r.body.text();
      }
    } finally {
      // web reports once a minute: what reaches the control plane is the report close() sends last.
      await web.close();
    }
  });

  after(async () => {
    // api stays registered until now: describe service wants a service the control plane knows.
    await api?.close();
    await cp.stop();
  });

  function assertRows(rows: RouteRow[], where: string): void {
    const got = rows.map((r) => [r.route === DEFAULT_ROUTE ? r.route : r.route.replace(/^default\//, ''), r.rule, r.requests, r.errors]);
    assert.deepEqual(got, EXPECTED, where);
    for (const r of rows) {
      assert.equal(r.destination, 'default/api', where);
      assert.equal(r.successRate, 1 - r.errors / r.requests, where);
      assert.ok(r.p50Ms !== null && r.p99Ms !== null && r.p99Ms >= r.p50Ms, `${where}: latency of ${r.rule}`);
    }
  }

  it('top --routes -o json and -o yaml: every rule of the routes to api, then [default], counted exactly', async () => {
    const j = await runCli(['top', '--routes', '--once', '-o', 'json', ...flags]);
    assert.equal(j.code, 0, j.stderr);
    const out = JSON.parse(j.stdout) as { windowSeconds: number; routes: RouteRow[]; edges?: unknown };
    assert.equal(out.windowSeconds, 60);
    assert.equal(out.edges, undefined, '--routes shows routes, not edges');
    assertRows(out.routes, 'top -o json');
    const y = await runCli(['top', '--routes', '--once', '--service', 'api', '-o', 'yaml', ...flags]);
    assert.equal(y.code, 0, y.stderr);
    assertRows((parseYaml(y.stdout) as { routes: RouteRow[] }).routes, 'top --service api -o yaml');
    const none = await runCli(['top', '--routes', '--once', '--service', 'web', '--json', ...flags]);
    assert.deepEqual((JSON.parse(none.stdout) as { routes: RouteRow[] }).routes, [], 'nobody calls web');
  });

  it('top --routes prints the table, -o wide with the errors', async () => {
    const t = await runCli(['top', '--routes', '--once', ...flags]);
    assert.equal(t.code, 0, t.stderr);
    const lines = t.stdout.split('\n');
    assert.match(lines[2]!, /^SERVICE\s+ROUTE\s+RULE\s+RPS\s+SUCCESS\s+P50\s+P99\s+REQUESTS$/);
    assert.match(lines[3]!, /^api\s+api-items\s+list\s+\d+\.\d\s+100%\s+\S+ms\s+\S+ms\s+7$/);
    assert.match(lines[4]!, /^api\s+api-orders\s+api-orders\.0\s+\d+\.\d\s+75\.0%\s+\S+ms\s+\S+ms\s+4$/);
    assert.match(lines[5]!, /^api\s+\[default\]\s+-\s+\d+\.\d\s+100%\s+\S+ms\s+\S+ms\s+3$/);
    const w = await runCli(['top', '--routes', '--once', '-o', 'wide', ...flags]);
    assert.match(w.stdout, /\sREQUESTS\s+ERRORS\n/);
    assert.match(w.stdout, /api-orders\.0\s.*\s4\s+1\n/);
    // Without --routes, the edge is the rules' sum.
    const edges = JSON.parse((await runCli(['top', '--once', '-o', 'json', ...flags])).stdout) as { edges: { source: string; destination: string; requests: number; errors: number }[] };
    const e = edges.edges.find((x) => x.source === 'default/web' && x.destination === 'default/api')!;
    assert.deepEqual([e.requests, e.errors], [14, 1]);
  });

  it('describe service api: the route table, and routeTraffic in -o json and -o yaml', async () => {
    const d = await runCli(['describe', 'service', 'api', ...flags]);
    assert.equal(d.code, 0, d.stderr);
    const section = d.stdout.slice(d.stdout.indexOf('Routes (traffic in, by rule):'));
    const rows = section.split('\n').slice(1, 5);
    assert.match(rows[0]!, /^ {2}ROUTE\s+RULE\s+RPS\s+SUCCESS\s+P50\s+P99\s+REQUESTS$/);
    assert.match(rows[1]!, /^ {2}api-items\s+list\s+.*\s7$/);
    assert.match(rows[2]!, /^ {2}api-orders\s+api-orders\.0\s+\S+\s+75\.0%\s+.*\s4$/);
    assert.match(rows[3]!, /^ {2}\[default\]\s+-\s+.*\s3$/);
    const j = await runCli(['describe', 'service', 'api', '-o', 'json', ...flags]);
    assertRows((JSON.parse(j.stdout) as { routeTraffic: RouteRow[] }).routeTraffic, 'describe -o json');
    const y = await runCli(['describe', 'service', 'api', '-o', 'yaml', ...flags]);
    const view = parseYaml(y.stdout) as { routeTraffic: RouteRow[]; routes: { name: string }[] };
    assertRows(view.routeTraffic, 'describe -o yaml');
    assert.deepEqual(view.routes.map((r) => r.name).sort(), ['api-items', 'api-orders']);
  });

  it("the summary's JSON carries routeTraffic, keyed as the routes name their rules", async () => {
    const s = await call<{ routeTraffic: RouteRow[]; routes: { name: string; rules: { name: string }[] }[] }>(cp.url, 'GET', '/v1/stats/summary?window=60');
    assertRows(s.body.routeTraffic, 'summary');
    assert.deepEqual(
      s.body.routes.find((r) => r.name === 'api-orders')!.rules.map((r) => r.name),
      ['api-orders.0'],
    );
  });
});
