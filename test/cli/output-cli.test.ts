/**
 * `-o json|yaml|wide` on every read command (src/cli/output.ts), against a real control plane child:
 * each output parsed back and checked against what the control plane holds, the wide columns, and a bad
 * value refused alike everywhere (exit 2).
 */
import assert from 'node:assert/strict';
import { rm } from 'node:fs/promises';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { parseAllDocuments, parse as parseYaml } from 'yaml';
import { PACKAGE_VERSION } from '../../src/core/version.js';
import { runCli } from '../helpers/cli.js';
import { call, makeTempDir, register, startControlPlane, type RunningControlPlane } from '../helpers/control-plane.js';
import { repoRoot } from '../helpers/process.js';

/** Every read command, as a command line that reads something that exists below. */
const READS: string[][] = [
  ['get', 'services'],
  ['get', 'instances'],
  ['get', 'routes'],
  ['describe', 'service', 'api'],
  ['describe', 'gateway', 'edge'],
  ['status'],
  ['top', '--once'],
  ['check'],
  ['version'],
  ['token', 'list'],
  ['ca', 'show'],
  ['config', 'get-contexts'],
];

/**
 * `check` for every item, four CLI processes at a time: the commands only read, and one after another they
 * made this the suite's longest file (88 s on the CI's Node 20 line, 70 s on Node 24), waiting on process starts.
 */
async function eachAtOnce<T>(items: readonly T[], check: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: 4 }, async () => {
      while (next < items.length) await check(items[next++]!);
    }),
  );
}

describe('-o json|yaml|wide on every read command', () => {
  let cp: RunningControlPlane;
  let flags: string[];
  let dir: string;
  let env: NodeJS.ProcessEnv;
  let instance: string;

  before(async () => {
    cp = await startControlPlane();
    flags = cp.cliFlags;
    dir = await makeTempDir('hyphae-output-');
    env = { HYPHAE_CONFIG: path.join(dir, 'config.yaml') };
    const applied = await runCli(['apply', '-f', path.join(repoRoot, 'examples/gateway'), ...flags]);
    assert.equal(applied.code, 0, applied.stderr);
    const route = {
      apiVersion: 'hyphae.dev/v1',
      kind: 'Route',
      metadata: { name: 'api-split' },
      spec: { parentRefs: [{ name: 'api' }], rules: [{ name: 'reads', matches: [{ method: 'GET' }], backendRefs: [{ name: 'api' }] }, { backendRefs: [{ name: 'api' }] }] },
    };
    assert.equal((await call(cp.url, 'PUT', '/v1/resources', route)).status, 200);
    instance = (await register(cp.url, { service: 'api', address: '127.0.0.1', port: 7411, labels: { zone: 'zone-a', version: 'v7' }, ttlSeconds: 300 })).instance.id;
    const ctx = await runCli(['config', 'set-context', 'local', '--control-plane', cp.url], env);
    assert.equal(ctx.code, 0, ctx.stderr);
  });

  after(async () => {
    await cp.stop();
    await rm(dir, { recursive: true, force: true });
  });

  const read = async (args: string[]) => {
    const r = await runCli([...args, ...(args[0] === 'config' ? [] : flags)], env);
    // check exits 1 for a failed check (here: gateway routes to services with no instance), its report printed all the same.
    assert.equal(r.code, args[0] === 'check' ? 1 : 0, `${args.join(' ')}: ${r.stderr}`);
    return r.stdout;
  };

  it('a bad -o value, or --json with another -o, is a usage error (exit 2) on every read command', async () => {
    await eachAtOnce(READS, async (args) => {
      const bad = await runCli([...args, '-o', 'xml', ...(args[0] === 'config' ? [] : flags)], env);
      assert.equal(bad.code, 2, `${args.join(' ')} -o xml`);
      assert.match(bad.stderr, /-o must be one of json, yaml, wide, got "xml"/, args.join(' '));
      assert.match(bad.stderr, new RegExp(`Run "hyphae ${args[0]} --help" for usage`));
    });
    await eachAtOnce([['status'], ['describe', 'service', 'api'], ['top', '--once'], ['token', 'list'], ['ca', 'show']], async (args) => {
      const both = await runCli([...args, '--json', '-o', 'yaml', ...flags]);
      assert.equal(both.code, 2, args.join(' '));
      assert.match(both.stderr, /--json and -o yaml ask for two formats: give one/);
    });
  });

  it('json and yaml print the same data, and --json is -o json where a command had it', async () => {
    // Figures and times move between two runs of these: their JSON and YAML are compared by shape.
    const moving = new Set(['top', 'status', 'check', 'describe service']);
    await eachAtOnce(READS, async (args) => {
      const [jsonText, yamlText] = await Promise.all([read([...args, '-o', 'json']), read([...args, '-o', 'yaml'])]);
      const j = JSON.parse(jsonText) as unknown;
      const where = args.join(' ');
      if (args[0] === 'get' && args[1] !== 'instances') {
        // A list is {items} in JSON and a YAML document per resource (a registered-only service: a comment).
        const docs = parseAllDocuments(yamlText)
          .map((d) => d.toJSON() as unknown)
          .filter((d) => d !== null);
        assert.deepEqual({ items: docs }, j, where);
        assert.ok(docs.length > 0, where);
      } else if (moving.has(args[0]!) || moving.has(`${args[0]} ${args[1]}`)) {
        assert.deepEqual(Object.keys(parseYaml(yamlText) as object).sort(), Object.keys(j as object).sort(), where);
      } else assert.deepEqual(parseYaml(yamlText), j, where);
    });
    await eachAtOnce([['status'], ['top', '--once'], ['describe', 'service', 'api'], ['check'], ['token', 'list'], ['ca', 'show']], async (args) => {
      const [viaJsonText, viaOText] = await Promise.all([read([...args, '--json']), read([...args, '-o', 'json'])]);
      const viaJson = JSON.parse(viaJsonText) as Record<string, unknown>;
      const viaO = JSON.parse(viaOText) as Record<string, unknown>;
      assert.deepEqual(Object.keys(viaJson).sort(), Object.keys(viaO).sort(), args.join(' '));
    });
  });

  it('the data is what the control plane holds', async () => {
    const status = parseYaml(await read(['status', '-o', 'yaml'])) as { controlPlane: { url: string; instances: number }; services: { name: string; instances: number }[] };
    assert.equal(status.controlPlane.url, cp.url);
    assert.equal(status.controlPlane.instances, 1);
    assert.equal(status.services.find((s) => s.name === 'api')!.instances, 1);

    const described = parseYaml(await read(['describe', 'service', 'api', '-o', 'yaml'])) as { instances: { id: string; zone: string; version: string }[]; routes: { name: string }[] };
    assert.deepEqual(
      described.instances.map((i) => [i.id, i.zone, i.version]),
      [[instance, 'zone-a', 'v7']],
    );
    assert.deepEqual(
      described.routes.map((r) => r.name),
      ['api-split'],
    );

    const gateway = parseYaml(await read(['describe', 'gateway', 'edge', '-o', 'yaml'])) as { gateway: { metadata: { name: string } }; listeners: { name: string }[] };
    assert.equal(gateway.gateway.metadata.name, 'edge');
    assert.deepEqual(
      gateway.listeners.map((l) => l.name),
      ['http', 'shop', 'apis'],
    );

    const version = parseYaml(await read(['version', '-o', 'yaml'])) as { clientVersion: string; serverVersion: string; controlPlane: string };
    assert.deepEqual(version, { clientVersion: PACKAGE_VERSION, serverVersion: PACKAGE_VERSION, controlPlane: cp.url });

    const check = parseYaml(await read(['check', '-o', 'yaml'])) as { checks: { check: string }[] };
    assert.ok(check.checks.some((c) => c.check === 'reachable'));

    const created = JSON.parse(await read(['token', 'create', '--viewer', '-o', 'json'])) as { id: string; kind: string; token: string };
    assert.equal(created.kind, 'viewer');
    const tokens = parseYaml(await read(['token', 'list', '-o', 'yaml'])) as { id: string; kind?: string }[];
    assert.ok(
      tokens.some((t) => t.id === created.id && t.kind === 'viewer'),
      'the new token is listed',
    );
    const tokenTable = await read(['token', 'list', '-o', 'wide']);
    assert.match(tokenTable, new RegExp(`^ID\\s+NAMESPACE\\s+SERVICE\\s+SOURCE\\s+CREATED\\s+EXPIRES\\s+KIND\\n(.*\\n)*${created.id}\\s.*\\sviewer\\n`));

    const ca = parseYaml(await read(['ca', 'show', '-o', 'yaml'])) as { trustDomain: string; authorities: unknown[] };
    const caApi = await call<{ trustDomain: string; authorities: unknown[] }>(cp.url, 'GET', '/v1/ca');
    assert.deepEqual([ca.trustDomain, ca.authorities.length], [caApi.body.trustDomain, caApi.body.authorities.length]);

    const contexts = parseYaml(await read(['config', 'get-contexts', '-o', 'yaml'])) as { currentContext: string; contexts: { name: string; controlPlane: string }[] };
    assert.deepEqual(contexts, { contexts: [{ name: 'local', controlPlane: cp.url }], currentContext: 'local' });
  });

  it('-o wide: instances with address, zone, version, health and certificate; routes with hostnames and rule names', async () => {
    const instances = (await read(['get', 'instances', 'api', '-o', 'wide'])).trimEnd().split('\n');
    assert.match(instances[0]!, /^NAMESPACE\s+SERVICE\s+INSTANCE\s+CLUSTER\s+WEIGHT\s+LABELS\s+ADDRESS\s+PORT\s+ZONE\s+VERSION\s+HEALTH\s+CERT EXPIRES$/);
    // Registered by hand, no process reports for it: no health or certificate to show yet.
    assert.match(
      instances[1]!,
      new RegExp(
        `^default\\s+api\\s+${instance.replace(/\./g, '\\.')}\\s+default\\s+1\\s+(?:version=v7,zone=zone-a|zone=zone-a,version=v7)\\s+127\\.0\\.0\\.1\\s+7411\\s+zone-a\\s+v7\\s+unknown\\s+-$`,
      ),
    );
    const narrow = (await read(['get', 'instances', 'api'])).split('\n')[0]!;
    assert.match(narrow, /^NAMESPACE\s+SERVICE\s+INSTANCE\s+CLUSTER\s+WEIGHT\s+LABELS$/, 'the table without -o wide is as it was, with the cluster');

    const routes = (await read(['get', 'routes', '-o', 'wide'])).trimEnd().split('\n');
    assert.match(routes[0]!, /^NAMESPACE\s+NAME\s+PARENTS\s+RULES\s+BACKENDS\s+HOSTNAMES\s+RULE NAMES$/);
    assert.match(
      routes.find((l) => /\sapi-split\s/.test(l))!,
      /\sapi\s+2\s+api=1\s+\*\s+reads,api-split\.1$/,
    );
    assert.match(
      routes.find((l) => /\sshop\s/.test(l))!,
      /\sGateway\/edge.*\s+shop\.example\.com\s+\S+$/,
    );

    for (const args of [['status'], ['top', '--once']]) {
      const wide = await read([...args, '-o', 'wide']);
      assert.match(wide, /ERRORS|No traffic reported/, args.join(' '));
    }
    assert.match(await read(['status', '-o', 'wide']), /^SERVICE\s+INSTANCES\s+CONFIG\s+RPS IN \(10s\)\s+SUCCESS\s+P99\s+P50\s+REQUESTS\s+ERRORS$/m);
    assert.match(await read(['describe', 'service', 'api', '-o', 'wide']), new RegExp(`\\s127\\.0\\.0\\.1:7411\\s+(version=v7,zone=zone-a|zone=zone-a,version=v7)\\n`));
  });
});
