/** hyphae apply / get / describe / delete / schema with Gateways, on examples/gateway against a real control plane. */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { promisify } from 'node:util';
import { cliPath, repoRoot } from '../helpers/process.js';
import { call, startControlPlane, type RunningControlPlane } from '../helpers/control-plane.js';

const exec = promisify(execFile);
const EXAMPLE = path.join(repoRoot, 'examples/gateway');

async function hyphae(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const { stdout, stderr } = await exec(process.execPath, [cliPath, ...args], { timeout: 60_000 });
    return { code: 0, stdout, stderr };
  } catch (err) {
    const e = err as { code: number; stdout: string; stderr: string };
    return { code: e.code, stdout: e.stdout, stderr: e.stderr };
  }
}

describe('hyphae CLI with Gateways (examples/gateway)', () => {
  let cp: RunningControlPlane;
  let flags: string[];

  before(async () => {
    cp = await startControlPlane();
    flags = cp.cliFlags;
  });
  after(() => cp?.stop());

  it('applies the example as it is written', async () => {
    const r = await hyphae(['apply', '-f', EXAMPLE, ...flags]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /^Gateway default\/edge created$/m);
    assert.match(r.stdout, /^Route default\/shop created$/m);
    assert.match(r.stdout, /^Route default\/public-api created$/m);
    const stored = await call<{ resource: { spec: { listeners: { name: string }[]; edge: { trustedHops: number } } } }>(cp.url, 'GET', '/v1/resources/Gateway/default/edge');
    assert.deepEqual(
      stored.body.resource.spec.listeners.map((l) => l.name),
      ['http', 'shop', 'apis'],
    );
    assert.equal(stored.body.resource.spec.edge.trustedHops, 1);
  });

  it('get gateways lists listeners and attached routes; get routes marks Gateway parents', async () => {
    const g = await hyphae(['get', 'gateways', ...flags]);
    assert.equal(g.code, 0, g.stderr);
    const [header, row] = g.stdout.trim().split('\n');
    assert.match(header!, /^NAMESPACE\s+NAME\s+LISTENERS\s+ROUTES$/);
    assert.match(row!, /^default\s+edge\s+http=HTTP:8080 shop=HTTPS:8443\/shop\.example\.com apis=HTTPS:8443\/\*\.api\.example\.com\s+2$/);

    const one = await hyphae(['get', 'gw', 'edge', '-o', 'json', ...flags]);
    assert.equal(one.code, 0, one.stderr);
    assert.equal((JSON.parse(one.stdout) as { kind: string }).kind, 'Gateway');
    const missing = await hyphae(['get', 'gateway', 'nope', ...flags]);
    assert.equal(missing.code, 1);
    assert.match(missing.stderr, /no Gateway default\/nope/);

    const routes = await hyphae(['get', 'routes', ...flags]);
    assert.match(routes.stdout, /public-api\s+Gateway\/edge:apis\s+1/);
    assert.match(routes.stdout, /shop\s+Gateway\/edge\s+1/);
  });

  it('describe gateway shows each listener and the routes it serves, with their hostnames there', async () => {
    const d = await hyphae(['describe', 'gateway', 'edge', ...flags]);
    assert.equal(d.code, 0, d.stderr);
    assert.match(d.stdout, /^Gateway\s+default\/edge$/m);
    assert.match(d.stdout, /trusted hops 1, .*timeouts: idle 75s, headers 10s, request 1m/);
    assert.match(d.stdout, /^\s+shop\s+HTTPS\s+8443\s+shop\.example\.com\s+\/etc\/hyphae\/tls\/shop\.example\.com\.crt\s+Same\s+1$/m);
    assert.match(d.stdout, /^ {2}http: default\/shop \(shop\.example\.com\)$/m);
    assert.match(d.stdout, /^ {2}shop: default\/shop \(shop\.example\.com\)$/m);
    assert.match(d.stdout, /^ {2}apis: default\/public-api \(\*\.api\.example\.com\)$/m);
    assert.doesNotMatch(d.stdout, /http: default\/public-api/, 'public-api names the apis listener only');
    const json = await hyphae(['describe', 'gateway', 'edge', '--json', ...flags]);
    const view = JSON.parse(json.stdout) as { listeners: { name: string; routes: { route: string }[] }[] };
    assert.deepEqual(
      view.listeners.map((l) => [l.name, l.routes.map((r) => r.route)]),
      [
        ['http', ['default/shop']],
        ['shop', ['default/shop']],
        ['apis', ['default/public-api']],
      ],
    );
  });

  it('schema --kind gateway describes listeners; delete refuses a Gateway with routes, delete -f removes routes first', async () => {
    const s = await hyphae(['schema', '--kind', 'gateway']);
    assert.equal(s.code, 0, s.stderr);
    const schema = JSON.parse(s.stdout) as { title: string; properties: { spec: { properties: Record<string, unknown> } } };
    assert.equal(schema.title, 'hyphae Gateway');
    assert.deepEqual(Object.keys(schema.properties.spec.properties).sort(), ['edge', 'listeners']);

    const refused = await hyphae(['delete', 'gateway', 'edge', ...flags]);
    assert.equal(refused.code, 1);
    assert.match(refused.stderr, /Route default\/public-api \(spec\.parentRefs\[0\]\) is attached to this Gateway/);

    const all = await hyphae(['delete', '-f', EXAMPLE, ...flags]);
    assert.equal(all.code, 0, all.stderr);
    assert.match(all.stdout, /Gateway default\/edge deleted/);
    assert.equal((await call<{ items: unknown[] }>(cp.url, 'GET', '/v1/resources')).body.items.length, 0);
  });
});
