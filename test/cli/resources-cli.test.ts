/** hyphae apply / get / delete / diff / schema against a real control plane. */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import http from 'node:http';
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { promisify } from 'node:util';
import { cliPath } from '../helpers/process.js';
import { Pki } from '../helpers/pki.js';
import { call, makeTempDir, register, startControlPlane, type RunningControlPlane } from '../helpers/control-plane.js';

const exec = promisify(execFile);

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

async function hyphae(args: string[], env: NodeJS.ProcessEnv = {}): Promise<Run> {
  try {
    const { stdout, stderr } = await exec(process.execPath, [cliPath, ...args], { timeout: 60_000, env: { ...process.env, ...env } });
    return { code: 0, stdout, stderr };
  } catch (err) {
    const e = err as { code: number; stdout: string; stderr: string };
    return { code: e.code, stdout: e.stdout, stderr: e.stderr };
  }
}

const SERVICE = `apiVersion: hyphae.dev/v1
kind: Service
metadata: { name: api }
spec:
  loadBalancer: round_robin
  subsets:
    - { name: v1, labels: { version: v1 } }
    - { name: v2, labels: { version: v2 } }
`;

const ROUTES = `# two routes in one file
apiVersion: hyphae.dev/v1
kind: Route
metadata: { name: canary }
spec:
  parentRefs: [{ name: api }]
  rules:
    - matches: [{ headers: [{ name: x-canary, value: "true" }] }]
      backendRefs: [{ name: api, subset: v2 }]
---
apiVersion: hyphae.dev/v1
kind: Route
metadata: { name: split }
spec:
  parentRefs: [{ name: api }]
  rules:
    - backendRefs:
        - { name: api, subset: v1, weight: 90 }
        - { name: api, subset: v2, weight: 10 }
`;

describe('hyphae apply, get, delete, diff, schema', () => {
  let cp: RunningControlPlane;
  let dir: string;
  let cpFlag: string[];

  before(async () => {
    cp = await startControlPlane();
    cpFlag = cp.cliFlags;
    dir = await makeTempDir('hyphae-cli-');
    await mkdir(path.join(dir, 'conf/routes'), { recursive: true });
    await writeFile(path.join(dir, 'conf/service.yaml'), SERVICE);
    await writeFile(path.join(dir, 'conf/routes/routes.yml'), ROUTES);
    await writeFile(path.join(dir, 'conf/routes/README.txt'), 'not a resource: ignored');
    await writeFile(path.join(dir, 'conf/web.json'), JSON.stringify({ items: [{ apiVersion: 'hyphae.dev/v1', kind: 'Service', metadata: { name: 'web', namespace: 'shop' }, spec: {} }] }));
    for (const [port, version] of [
      [9101, 'v1'],
      [9102, 'v2'],
    ] as const) {
      await register(cp.url, { service: 'api', address: '127.0.0.1', port, labels: { version, zone: 'zone-a' }, ttlSeconds: 300 });
    }
  });
  after(async () => {
    await cp?.stop();
    await rm(dir, { recursive: true, force: true });
  });

  it('apply --dry-run reports what would change and stores nothing', async () => {
    const r = await hyphae(['apply', '-f', path.join(dir, 'conf'), '--dry-run', ...cpFlag]);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(
      r.stdout,
      ['Route default/canary created (dry run)', 'Route default/split created (dry run)', 'Service default/api created (dry run)', 'Service shop/web created (dry run)', ''].join('\n'),
    );
    assert.equal((await call<{ items: unknown[] }>(cp.url, 'GET', '/v1/resources')).body.items.length, 0);
  });

  it('apply -f <dir> reads YAML and JSON recursively, several documents per file, and applies them in one step', async () => {
    const r = await hyphae(['apply', '-f', path.join(dir, 'conf'), ...cpFlag]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /Route default\/canary created\nRoute default\/split created\nService default\/api created\nService shop\/web created\n/);
    const again = await hyphae(['apply', '-f', path.join(dir, 'conf/service.yaml'), ...cpFlag]);
    assert.equal(again.stdout, 'Service default/api unchanged\n');
  });

  it('apply lists every problem with file, document, line and field path, exits 1 and applies nothing', async () => {
    const bad = path.join(dir, 'bad.yaml');
    await writeFile(
      bad,
      `apiVersion: hyphae.dev/v1
kind: Gadget
metadata: { name: x }
---
apiVersion: hyphae.dev/v1
kind: Route
metadata: { name: broken }
spec:
  parentRefs: [{ name: api }]
  rules:
    - matches: [{ path: { type: RegularExpression, value: "/v([0-9" } }]
      backendRefs: [{ name: api, subset: v1, weight: 0 }, { name: api, subset: v2, weight: 0 }]
    - backendRefs: [{ name: api, subset: v3 }, { name: nosuch }]
`,
    );
    const r = await hyphae(['apply', '-f', bad, ...cpFlag]);
    assert.equal(r.code, 1);
    assert.equal(r.stdout, '');
    const lines = r.stderr.trim().split('\n');
    assert.match(lines[0]!, /^HYPHAE_ERR_INVALID_CONFIG: 5 problems; nothing was applied:/);
    const at = (doc: number, line: number, what: string) => `${bad} (document ${doc}, line ${line}, ${what})`;
    const expected = [
      `${at(1, 1, 'Gadget default/x')}: kind`,
      `${at(2, 5, 'Route default/broken')}: spec.rules[0].matches[0].path.value`,
      `${at(2, 5, 'Route default/broken')}: spec.rules[0].backendRefs`,
      `${at(2, 5, 'Route default/broken')}: spec.rules[1].backendRefs[0].subset`,
      `${at(2, 5, 'Route default/broken')}: spec.rules[1].backendRefs[1].name`,
    ];
    assert.equal(lines.length, 1 + expected.length, r.stderr);
    expected.forEach((prefix, i) => assert.ok(lines[i + 1]!.trim().startsWith(`${prefix}: `), `${lines[i + 1]} should start with ${prefix}`));
    assert.match(r.stderr, /does not compile \(RE2 syntax\): missing closing \]: `\[0-9`/);
    assert.match(r.stderr, /every backend has weight 0/);
    assert.match(r.stderr, /subset "v3" is not defined on Service default\/api/);
    assert.match(r.stderr, /unknown service default\/nosuch/);
    assert.equal((await call(cp.url, 'GET', '/v1/resources/Route/default/broken')).status, 404);
  });

  it('reports YAML syntax errors and unreadable paths with exit 1, sending nothing', async () => {
    const broken = path.join(dir, 'broken.yaml');
    await writeFile(broken, 'kind: Route\nmetadata: { name: [x\n');
    const r = await hyphae(['apply', '-f', broken, '-f', path.join(dir, 'missing.yaml'), ...cpFlag]);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /missing\.yaml: no such file or directory/);
    assert.match(r.stderr, /broken\.yaml \(document 1, line \d+\): /);
  });

  it('get routes|services|instances prints tables, JSON and re-appliable YAML', async () => {
    const routes = await hyphae(['get', 'routes', ...cpFlag]);
    assert.equal(routes.code, 0);
    assert.match(routes.stdout, /^NAMESPACE\s+NAME\s+PARENTS\s+RULES\s+BACKENDS\n/);
    assert.match(routes.stdout, /default\s+split\s+api\s+1\s+api\/v1=90 api\/v2=10/);

    const services = await hyphae(['get', 'services', ...cpFlag]);
    assert.match(services.stdout, /default\s+api\s+2\s+round_robin\s+v1,v2/);
    assert.match(services.stdout, /shop\s+web\s+0\s+peak_ewma\s+-/);

    const instances = await hyphae(['get', 'instances', 'api', '-o', 'json', ...cpFlag]);
    const parsed = JSON.parse(instances.stdout) as { instances: { id: string; labels: Record<string, string> }[] };
    assert.deepEqual(
      parsed.instances.map((i) => i.labels.version),
      ['v1', 'v2'],
    );

    const yaml = await hyphae(['get', 'routes', 'split', '-o', 'yaml', ...cpFlag]);
    assert.match(yaml.stdout, /^apiVersion: hyphae.dev\/v1\nkind: Route\nmetadata:\n {2}name: split\n/);
    const file = path.join(dir, 'roundtrip.yaml');
    await writeFile(file, yaml.stdout);
    assert.equal((await hyphae(['apply', '-f', file, ...cpFlag])).stdout, 'Route default/split unchanged\n', 'get -o yaml applies back unchanged');

    const missing = await hyphae(['get', 'routes', 'nope', ...cpFlag]);
    assert.equal(missing.code, 1);
    assert.match(missing.stderr, /no Route default\/nope/);
    const bad = await hyphae(['get', 'gadgets', ...cpFlag]);
    assert.equal(bad.code, 2);
    assert.match(bad.stderr, /unknown kind "gadgets"; known kinds: Service, Route, AuthorizationPolicy, PeerAuthentication, Gateway/);
    const badFormat = await hyphae(['get', 'routes', '-o', 'xml', ...cpFlag]);
    assert.equal(badFormat.code, 2);
    assert.match(badFormat.stderr, /-o must be one of json, yaml, wide, got "xml"/);
  });

  it('get of every kind: Service resources apply back from -o yaml and -o json, policies and peer authentication list, -A', async () => {
    // What `get --help` promises: the output applies again, here through stdin.
    const yaml = await hyphae(['get', 'services', 'api', '-o', 'yaml', ...cpFlag]);
    assert.equal(yaml.code, 0, yaml.stderr);
    assert.match(yaml.stdout, /^apiVersion: hyphae.dev\/v1\nkind: Service\nmetadata:\n {2}name: api\n/);
    const yamlFile = path.join(dir, 'svc-roundtrip.yaml');
    await writeFile(yamlFile, yaml.stdout);
    assert.equal((await hyphae(['apply', '-f', yamlFile, ...cpFlag])).stdout, 'Service default/api unchanged\n');
    const list = await hyphae(['get', 'svc', '-A', '-o', 'json', ...cpFlag]);
    const parsed = JSON.parse(list.stdout) as { items: { kind: string; metadata: { namespace: string; name: string } }[] };
    assert.deepEqual(
      parsed.items.map((r) => `${r.kind} ${r.metadata.namespace}/${r.metadata.name}`),
      ['Service default/api', 'Service shop/web'],
    );
    const jsonFile = path.join(dir, 'svc-roundtrip.json');
    await writeFile(jsonFile, list.stdout);
    assert.equal((await hyphae(['apply', '-f', jsonFile, ...cpFlag])).stdout, 'Service default/api unchanged\nService shop/web unchanged\n');

    const policies = path.join(dir, 'policies.yaml');
    await writeFile(
      policies,
      `apiVersion: hyphae.dev/v1
kind: AuthorizationPolicy
metadata: { name: api-from-web }
spec: { selector: { service: api }, action: ALLOW, rules: [{ from: { principals: ["spiffe://mesh.local/ns/default/sa/web"] } }] }
---
apiVersion: hyphae.dev/v1
kind: PeerAuthentication
metadata: { name: shop-permissive, namespace: shop }
spec: { mode: PERMISSIVE }
`,
    );
    const applied = await hyphae(['apply', '-f', policies, ...cpFlag]);
    assert.equal(applied.code, 0, applied.stderr);
    try {
      const authz = await hyphae(['get', 'authorizationpolicies', ...cpFlag]);
      assert.equal(authz.code, 0, authz.stderr);
      assert.match(authz.stdout, /^NAMESPACE\s+NAME\s+ACTION\s+SERVICE\s+RULES\ndefault\s+api-from-web\s+ALLOW\s+api\s+1\n$/);
      const peer = await hyphae(['get', 'peerauth', '-n', 'shop', ...cpFlag]);
      assert.match(peer.stdout, /^NAMESPACE\s+NAME\s+SERVICE\s+MODE\nshop\s+shop-permissive\s+\(namespace\)\s+PERMISSIVE\n$/);
      const one = await hyphae(['get', 'PeerAuthentication', 'shop-permissive', '-n', 'shop', '-o', 'yaml', ...cpFlag]);
      assert.match(one.stdout, /^apiVersion: hyphae.dev\/v1\nkind: PeerAuthentication\n/);
      assert.equal((await hyphae(['get', 'authz', 'nope', ...cpFlag])).stderr, 'no AuthorizationPolicy default/nope\n');
      const both = await hyphae(['get', 'svc', '-A', '-n', 'shop', ...cpFlag]);
      assert.equal(both.code, 2);
      assert.match(both.stderr, /-A and -n exclude each other/);
    } finally {
      await hyphae(['delete', '-f', policies, ...cpFlag]);
    }
  });

  it('diff -f shows a unified diff of what apply would change, and stores nothing', async () => {
    const changed = path.join(dir, 'changed.yaml');
    await writeFile(changed, ROUTES.replace('weight: 90', 'weight: 50').replace('weight: 10', 'weight: 50'));
    const r = await hyphae(['diff', '-f', changed, ...cpFlag]);
    // kubectl's convention: 1 when there are differences, 0 when none (below), 2 on an error.
    assert.equal(r.code, 1, r.stderr);
    assert.match(r.stdout, /^--- stored\/Route\/default\/split\n\+\+\+ new\/Route\/default\/split\n@@ /);
    assert.match(r.stdout, /\n-\s+weight: 90\n/);
    assert.match(r.stdout, /\n\+\s+weight: 50\n/);
    assert.doesNotMatch(r.stdout, /canary/, 'unchanged resources are not shown');
    assert.match(r.stderr, /1 to change, 1 unchanged/);
    const same = await hyphae(['diff', '-f', path.join(dir, 'conf'), ...cpFlag]);
    assert.equal(same.code, 0, same.stderr);
    assert.equal(same.stdout, '');
    assert.match(same.stderr, /no changes/);
  });

  it('delete by kind and name, and by file; a missing one exits 1; a Service in use is refused', async () => {
    const inUse = await hyphae(['delete', 'service', 'api', ...cpFlag]);
    assert.equal(inUse.code, 1);
    assert.match(inUse.stderr, /subset "v1" is used by Route default\/split/);

    const one = await hyphae(['delete', 'routes', 'canary', ...cpFlag]);
    assert.equal(one.code, 0, one.stderr);
    assert.equal(one.stdout, 'Route default/canary deleted\n');
    const again = await hyphae(['delete', 'Route', 'canary', ...cpFlag]);
    assert.equal(again.code, 1);
    assert.match(again.stderr, /HYPHAE_ERR_NOT_FOUND: no Route default\/canary/);

    const fromFile = await hyphae(['delete', '-f', path.join(dir, 'conf/routes/routes.yml'), ...cpFlag]);
    assert.equal(fromFile.code, 1, 'canary is already gone');
    assert.match(fromFile.stdout, /Route default\/split deleted/);
    assert.match(fromFile.stderr, /Route default\/canary \(.*routes\.yml \(document 1, line 2, Route default\/canary\)\): HYPHAE_ERR_NOT_FOUND/);
    assert.equal((await hyphae(['delete', 'svc', 'api', ...cpFlag])).code, 0, 'no route uses it any more');
    // A directory with a Service and the routes that use it: routes go first, so the Service may go too.
    assert.equal((await hyphae(['apply', '-f', path.join(dir, 'conf'), ...cpFlag])).code, 0);
    const all = await hyphae(['delete', '-f', path.join(dir, 'conf'), ...cpFlag]);
    assert.equal(all.code, 0, all.stderr);
    assert.equal(all.stdout, 'Route default/canary deleted\nRoute default/split deleted\nService default/api deleted\nService shop/web deleted\n');
    assert.equal((await hyphae(['delete', 'gadget', 'x', ...cpFlag])).code, 2);
    assert.equal((await hyphae(['delete', 'route', ...cpFlag])).code, 2);
  });

  it('apply --if-match: two operators from the same revision, one wins, the other gets HYPHAE_ERR_CONFLICT naming the revision; delete --if-match too', async () => {
    const svc = (lb: string) => `apiVersion: hyphae.dev/v1\nkind: Service\nmetadata: { name: cas }\nspec: { loadBalancer: ${lb} }\n`;
    const [a, b] = [path.join(dir, 'cas-a.yaml'), path.join(dir, 'cas-b.yaml')];
    await writeFile(a, svc('round_robin'));
    await writeFile(b, svc('least_request'));
    const revisionIn = (stderr: string) => Number(/configuration revision (\d+)/.exec(stderr)?.[1] ?? NaN);

    // Both operators look first (diff, or apply --dry-run): the revision they base their change on.
    const lookA = await hyphae(['diff', '-f', a, ...cpFlag]);
    const lookB = await hyphae(['apply', '--dry-run', '-f', b, ...cpFlag]);
    const base = revisionIn(lookA.stderr);
    assert.ok(Number.isInteger(base), lookA.stderr);
    assert.equal(revisionIn(lookB.stderr), base);

    const wins = await hyphae(['apply', '-f', a, '--if-match', String(base), ...cpFlag]);
    assert.equal(wins.code, 0, wins.stderr);
    assert.equal(wins.stdout, 'Service default/cas created\n');
    const after = revisionIn(wins.stderr);
    assert.ok(after > base, wins.stderr);
    const loses = await hyphae(['apply', '-f', b, '--if-match', String(base), ...cpFlag]);
    assert.equal(loses.code, 1);
    assert.equal(loses.stdout, '');
    assert.match(loses.stderr, new RegExp(`HYPHAE_ERR_CONFLICT: revision conflict: the write expected revision ${base}, the configuration is at revision ${after}`));
    assert.match(loses.stderr, new RegExp(`apply again with --if-match ${after}`));
    const stored = await call<{ resource: { spec: { loadBalancer: string } } }>(cp.url, 'GET', '/v1/resources/Service/default/cas');
    assert.equal(stored.body.resource.spec.loadBalancer, 'round_robin', "the first operator's write was not overwritten");
    // Having looked again, the second operator applies onto the current revision.
    const retry = await hyphae(['apply', '-f', b, '--if-match', String(after), ...cpFlag]);
    assert.equal(retry.code, 0, retry.stderr);
    assert.equal((await call<{ resource: { spec: { loadBalancer: string } } }>(cp.url, 'GET', '/v1/resources/Service/default/cas')).body.resource.spec.loadBalancer, 'least_request');

    // At the same time, from the same revision, two changes (neither is what is stored): exactly one wins.
    const now = revisionIn(retry.stderr);
    const c = path.join(dir, 'cas-c.yaml');
    await writeFile(c, svc('peak_ewma'));
    const both = await Promise.all([a, c].map((f) => hyphae(['apply', '-f', f, '--if-match', String(now), ...cpFlag])));
    assert.deepEqual(both.map((r) => r.code).sort(), [0, 1], both.map((r) => r.stderr).join('\n'));
    assert.match(both.find((r) => r.code === 1)!.stderr, /HYPHAE_ERR_CONFLICT/);

    // delete --if-match: a stale revision deletes nothing; the current one deletes.
    const stale = await hyphae(['delete', 'service', 'cas', '--if-match', String(base), ...cpFlag]);
    assert.equal(stale.code, 1);
    assert.match(stale.stderr, /HYPHAE_ERR_CONFLICT: revision conflict: the write expected revision/);
    assert.equal((await call(cp.url, 'GET', '/v1/resources/Service/default/cas')).status, 200, 'not deleted');
    const current = (await call<{ revision: number }>(cp.url, 'GET', '/v1/resources')).body.revision;
    const del = await hyphae(['delete', 'service', 'cas', '--if-match', String(current), ...cpFlag]);
    assert.equal(del.code, 0, del.stderr);
    assert.equal((await call(cp.url, 'GET', '/v1/resources/Service/default/cas')).status, 404);
    assert.equal((await hyphae(['apply', '-f', a, '--if-match', 'latest', ...cpFlag])).code, 2, 'a revision is a number');
  });

  it('schema prints the JSON Schema of every kind, or of one', async () => {
    const all = JSON.parse((await hyphae(['schema'])).stdout) as { $schema: string; oneOf: { properties: { kind: { const: string } } }[] };
    assert.equal(all.$schema, 'https://json-schema.org/draft/2020-12/schema');
    assert.deepEqual(
      all.oneOf.map((s) => s.properties.kind.const),
      ['Service', 'Route', 'AuthorizationPolicy', 'PeerAuthentication', 'Gateway', 'ServiceExport'],
    );
    const route = JSON.parse((await hyphae(['schema', '--kind', 'route'])).stdout) as { title: string; properties: Record<string, unknown> };
    assert.equal(route.title, 'hyphae Route');
    assert.deepEqual(Object.keys(route.properties), ['apiVersion', 'kind', 'metadata', 'spec']);
    assert.equal((await hyphae(['schema', '--kind', 'nope'])).code, 2);
  });

  it('usage errors exit 2', async () => {
    for (const args of [['apply'], ['apply', 'file.yaml'], ['diff'], ['get']]) {
      const r = await hyphae([...args, ...cpFlag]);
      assert.equal(r.code, 2, args.join(' '));
    }
  });
});

describe('hyphae write commands pass the admin token', () => {
  it('sends --token-file or HYPHAE_ADMIN_TOKEN as a Bearer token over https, never over http; refuses --token (argv is public)', async () => {
    const dir = await makeTempDir('hyphae-cli-token-');
    const pki = new Pki(dir);
    const ca = await pki.selfSignedCa('cli-ca');
    const { csr, key } = await pki.keyAndCsr('cp', '127.0.0.1');
    const cert = await pki.sign(csr, ca, { san: ['IP:127.0.0.1'], eku: 'serverAuth' }, 'cp.pem');
    const seen: { scheme: string; auth: string | undefined }[] = [];
    const answer = (scheme: string) => (req: http.IncomingMessage, res: http.ServerResponse) => {
      seen.push({ scheme, auth: req.headers.authorization });
      req.resume();
      res.setHeader('content-type', 'application/json');
      res.end(JSON.stringify(req.method === 'PUT' ? { revision: 1, results: [] } : { revision: 1 }));
    };
    const secure = https.createServer({ key: await readFile(key), cert: await readFile(cert) }, answer('https'));
    const plain = http.createServer(answer('http'));
    await new Promise<void>((resolve) => secure.listen(0, '127.0.0.1', resolve));
    await new Promise<void>((resolve) => plain.listen(0, '127.0.0.1', resolve));
    const httpsUrl = `https://127.0.0.1:${(secure.address() as AddressInfo).port}`;
    const httpUrl = `http://127.0.0.1:${(plain.address() as AddressInfo).port}`;
    try {
      const file = path.join(dir, 's.yaml');
      const tokenFile = path.join(dir, 'admin.token');
      await writeFile(file, SERVICE);
      await writeFile(tokenFile, 'file-token\n');
      const tls = ['--control-plane', httpsUrl, '--ca-file', ca.cert];
      const onArgv = await hyphae(['apply', '-f', file, ...tls, '--token', 'flag-token-secret']);
      assert.equal(onArgv.code, 2);
      assert.match(onArgv.stderr, /--token puts the token on the command line, where every local user can read it .*--token-file <file>.*HYPHAE_ADMIN_TOKEN/);
      assert.ok(!onArgv.stderr.includes('flag-token-secret'), 'the refusal does not echo the secret');
      // The flag is this command's choice: it wins over a token in the environment.
      assert.equal((await hyphae(['apply', '-f', file, ...tls, '--token-file', tokenFile], { HYPHAE_ADMIN_TOKEN: 'env-token' })).code, 0);
      assert.equal((await hyphae(['delete', 'route', 'x', ...tls], { HYPHAE_ADMIN_TOKEN: 'env-token' })).code, 0);
      assert.equal((await hyphae(['delete', 'route', 'x', ...tls], { HYPHAE_ADMIN_TOKEN_FILE: tokenFile })).code, 0);
      assert.equal((await hyphae(['apply', '-f', file, '--control-plane', httpUrl, '--token-file', tokenFile])).code, 0);
      assert.deepEqual(seen, [
        { scheme: 'https', auth: 'Bearer file-token' },
        { scheme: 'https', auth: 'Bearer env-token' },
        { scheme: 'https', auth: 'Bearer file-token' },
        { scheme: 'http', auth: undefined },
      ]);
    } finally {
      secure.close();
      plain.close();
      await rm(dir, { recursive: true, force: true });
    }
  });
});
