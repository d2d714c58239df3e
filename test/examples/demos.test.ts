/**
 * `npm run demo -- <name>`: each named demo as a child process, as a user runs
 * it (build/examples/demo.js <name>), must exit 0, and the figures it prints
 * must show the effect of its `hyphae apply`: routed and subset calls exact,
 * a weighted share within a band many standard deviations wide.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { describe, it } from 'node:test';
import { promisify } from 'node:util';
import { buildDir, cliPath, startNode, type Child } from '../helpers/process.js';

const demoScript = path.join(buildDir, 'examples/demo.js');
/** A ceiling against a stalled demo (each takes well under a minute on an idle machine), never an expectation. */
const STALL_MS = 240_000;

async function stopped(child: Child, signal: NodeJS.Signals = 'SIGTERM'): Promise<number | null> {
  const killed = child.kill(signal);
  const timer = setTimeout(() => void child.kill('SIGKILL'), 30_000);
  const code = await killed;
  clearTimeout(timer);
  return code;
}

/** Runs `demo.js <name>` to its end; the output is stdout and stderr, line by line. */
async function runDemo(name: string, stallMs = STALL_MS): Promise<{ code: number | null; out: string }> {
  const child = startNode(demoScript, [name]);
  let timer: NodeJS.Timeout | undefined;
  const stall = new Promise<'stalled'>((resolve) => (timer = setTimeout(() => resolve('stalled'), stallMs)));
  const result = await Promise.race([child.exited, stall]);
  clearTimeout(timer);
  if (result === 'stalled') {
    // SIGTERM: the demo stops its own children before it exits.
    await stopped(child);
    assert.fail(`demo ${name} stalled for ${stallMs} ms:\n${child.lines.join('\n')}`);
  }
  return { code: result, out: child.lines.join('\n') };
}

/** Two control planes, nine processes and RSA keys made by openssl: the multi-cluster demos' own ceiling. */
const CLUSTERS_STALL_MS = 480_000;

const num = (s: string | undefined) => Number(s);

// Two demos at a time: each has a control plane, ports and a data directory of its own (port 0, a fresh
// temporary directory), and most of a demo's time is spent waiting on its children and on the mesh's events.
describe('npm run demo -- <name>', { concurrency: 2 }, () => {
  it('an unknown name lists the demos and exits 2', { timeout: STALL_MS + 60_000 }, async () => {
    const unknown = await runDemo('no-such-demo');
    assert.equal(unknown.code, 2, unknown.out);
    for (const name of ['routing', 'splitting', 'subsets', 'locality', 'failover', 'tracing', 'ingress', 'gateways']) assert.match(unknown.out, new RegExp(`^ {2}${name} `, 'm'));
    // A name the registry object has by inheritance is not a demo either.
    const inherited = await runDemo('constructor');
    assert.equal(inherited.code, 2, inherited.out);
    assert.match(inherited.out, /unknown demo "constructor"/);
  });

  it(
    'ingress: outside calls reach web and api by hostname through hyphae gateway, api 90/10; 404 for an unknown host; web refuses a mesh caller that is not the gateway',
    { timeout: STALL_MS + 60_000 },
    async () => {
      const { code, out } = await runDemo('ingress');
      assert.equal(code, 0, out);
      const web = /^ {2}Host: web\.demo\.local +-> web (\d+) of (\d+) \((\d+) failed\)$/m.exec(out);
      assert.ok(web, out);
      assert.equal(num(web[1]), num(web[2]), 'every web.demo.local call reached web');
      assert.equal(num(web[3]), 0);
      const api = /^ {2}Host: api\.demo\.local +-> v1 (\d+), v2 (\d+) of (\d+) \((\d+) failed\)/m.exec(out);
      assert.ok(api, out);
      const [v1, v2, total, failed] = [num(api[1]), num(api[2]), num(api[3]), num(api[4])];
      assert.equal(failed, 0);
      assert.equal(v1 + v2, total);
      // 10 % of 1000 has a standard deviation under 1 point: a band of about 5 of them either side.
      assert.ok(v2 / total > 0.05 && v2 / total < 0.16, `v2 share ${v2}/${total}`);
      assert.match(out, /^ {2}Host: shop\.demo\.local -> 404 HYPHAE_ERR_NO_ROUTE/m);
      assert.match(out, /^ {2}mesh client "demo" -> web directly: 403 /m);
      assert.match(out, /^ {4}\{.*"service":"web"/m, "curl through the gateway got web's answer");
      assert.match(out, /^demo ok/m);
    },
  );

  it('routing: before the Route every call reaches api; after it, /search reaches search and x-beta: 1 api-beta, all of them', { timeout: STALL_MS + 60_000 }, async () => {
    const { code, out } = await runDemo('routing');
    assert.equal(code, 0, out);
    const rows = [...out.matchAll(/^ {2}(before|after) +(GET \/\S+(?: +x-beta: 1)?) +-> api (\d+), search (\d+), api-beta (\d+) \(of (\d+), (\d+) failed\)$/gm)].map((m) => ({
      phase: m[1],
      kind: m[2]!.replace(/ +/g, ' '),
      api: num(m[3]),
      search: num(m[4]),
      beta: num(m[5]),
      total: num(m[6]),
      failed: num(m[7]),
    }));
    assert.equal(rows.length, 6, out);
    for (const r of rows) {
      assert.ok(r.total >= 100 && r.failed === 0, out);
      const expected = r.phase === 'before' ? 'api' : r.kind.startsWith('GET /search') ? 'search' : r.kind.endsWith('x-beta: 1') ? 'beta' : 'api';
      assert.equal(r[expected], r.total, `${r.phase} ${r.kind} should all reach ${expected}:\n${out}`);
    }
    assert.match(out, /Route default\/api-routing created/);
    assert.match(out, /^demo ok/m);
  });

  it('splitting: v2 gets none, about 10 %, about half, then all of the calls as the weights change', { timeout: STALL_MS + 60_000 }, async () => {
    const { code, out } = await runDemo('splitting');
    assert.equal(code, 0, out);
    const rows = [...out.matchAll(/weights (\d+)\/(\d+) +v1 +(\d+), v2 +(\d+) of (\d+) \((\d+) failed\): v2 got ([\d.]+) % of (\d+) requests/g)].map((m) => ({
      weights: `${m[1]}/${m[2]}`,
      v1: num(m[3]),
      v2: num(m[4]),
      total: num(m[5]),
      failed: num(m[6]),
      printed: num(m[7]),
    }));
    assert.deepEqual(
      rows.map((r) => r.weights),
      ['100/0', '90/10', '50/50', '0/100'],
      out,
    );
    for (const r of rows) {
      assert.equal(r.failed, 0, out);
      assert.equal(r.v1 + r.v2, r.total, out);
      // The printed share is the counts' share, not a number of its own.
      assert.ok(Math.abs(r.printed - (100 * r.v2) / r.total) < 0.06, out);
    }
    const [allV1, canary, half, allV2] = rows as [(typeof rows)[0], (typeof rows)[0], (typeof rows)[0], (typeof rows)[0]];
    assert.equal(allV1.v2, 0, out);
    assert.equal(allV2.v1, 0, out);
    assert.ok(canary.total >= 1000 && half.total >= 1000, out);
    // 10 % of 1000 has a standard deviation of about 1 point, 50 % about 1.6: these bands are 5 and 6 of them.
    assert.ok(canary.v2 / canary.total > 0.05 && canary.v2 / canary.total < 0.16, `90/10 share:\n${out}`);
    assert.ok(half.v2 / half.total > 0.4 && half.v2 / half.total < 0.6, `50/50 share:\n${out}`);
  });

  it('subsets: after the Service and Route, calls without the header reach only subset v1 (both instances), with it only v2', { timeout: STALL_MS + 60_000 }, async () => {
    const { code, out } = await runDemo('subsets');
    assert.equal(code, 0, out);
    const after = (kind: string) => {
      const m = new RegExp(`^ {2}after +GET /items${kind} +-> v1 (\\d+), v2 (\\d+) of (\\d+) \\((\\d+) failed\\) +per instance: (.+)$`, 'm').exec(out);
      assert.ok(m, `no "after GET /items${kind}" line:\n${out}`);
      return { v1: num(m[1]), v2: num(m[2]), total: num(m[3]), failed: num(m[4]), perInstance: [...m[5]!.matchAll(/\S+:\d+ (\d+)/g)].map((p) => num(p[1])) };
    };
    const plain = after('');
    const header = after(' x-version');
    assert.ok(plain.total >= 200 && plain.failed === 0 && header.failed === 0, out);
    assert.equal(plain.v1, plain.total, out);
    assert.equal(header.v2, header.total, out);
    // Instances print in start order: v1, v1, v2. The default subset is both v1 instances, not one.
    assert.deepEqual(
      plain.perInstance.map((n) => n > 0),
      [true, true, false],
      out,
    );
    assert.match(out, /^default +api +3 +\S+ +v1,v2$/m, 'hyphae get services shows the subsets');
    assert.match(out, /^demo ok/m);
  });

  it('locality: locality keeps calls in zone-a, they move to zone-b when zone-a has no instance, and come back', { timeout: STALL_MS + 60_000 }, async () => {
    const { code, out } = await runDemo('locality');
    assert.equal(code, 0, out);
    assert.match(out, /npm run demo -- failover fails over to another cluster/);
    const rows = [...out.matchAll(/^ {2}(\S.*?) +zone-a +(\d+), zone-b +(\d+) of (\d+) \((\d+) failed\)/gm)].map((m) => ({
      state: m[1],
      a: num(m[2]),
      b: num(m[3]),
      total: num(m[4]),
      failed: num(m[5]),
    }));
    assert.deepEqual(
      rows.map((r) => r.state),
      ['locality off, 4 of 4 up', 'locality on, zone-a 2 of 2 up', 'zone-a 1 of 2 up', 'zone-a 0 of 2 up', 'zone-a 2 of 2 up again'],
      out,
    );
    for (const r of rows) assert.ok(r.failed === 0 && r.a + r.b === r.total, out);
    const [off, on, one, none, back] = rows as [(typeof rows)[0], (typeof rows)[0], (typeof rows)[0], (typeof rows)[0], (typeof rows)[0]];
    assert.ok(off.a > 0 && off.b > 0, `locality off spreads over both zones:\n${out}`);
    for (const r of [on, one, back]) assert.equal(r.a, r.total, `${r.state}: every call in zone-a\n${out}`);
    assert.equal(none.b, none.total, `no zone-a instance: every call in zone-b\n${out}`);
  });

  /** The multi-cluster demos' table: calls per phase by the cluster whose api answered. */
  const clusterPhases = (out: string) =>
    [...out.matchAll(/^ {2}(both clusters up|dc1's api \w+) +(\d+) +(\d+) +(\d+)$/gm)].map((m) => ({ phase: m[1]!, dc1: num(m[2]), dc2: num(m[3]), failed: num(m[4]) }));

  const crossCluster = async (name: 'failover' | 'gateways') => {
    const { code, out } = await runDemo(name, CLUSTERS_STALL_MS);
    assert.equal(code, 0, out);
    const rows = clusterPhases(out);
    assert.deepEqual(
      rows.map((r) => r.phase),
      ['both clusters up', "dc1's api stopping", "dc1's api down", "dc1's api restarting", "dc1's api back"],
      out,
    );
    const [up, , down, , back] = rows as [(typeof rows)[0], (typeof rows)[0], (typeof rows)[0], (typeof rows)[0], (typeof rows)[0]];
    for (const r of rows) assert.equal(r.failed, 0, `${r.phase}: no call failed\n${out}`);
    assert.ok(up.dc1 >= 150 && up.dc2 === 0, `both up: every call stays in dc1\n${out}`);
    assert.ok(down.dc2 >= 150 && down.dc1 === 0, `dc1 without api: every call in dc2\n${out}`);
    assert.ok(back.dc1 >= 150 && back.dc2 === 0, `dc1's api back: every call in dc1\n${out}`);
    const total = rows.reduce((n, r) => n + r.dc1 + r.dc2, 0);
    assert.match(out, new RegExp(`^failures: 0 of ${total} calls$`, 'm'));
    // dc2's api saw dc1's web itself (its mTLS identity), not the demo process nor a gateway.
    assert.match(out, /^dc2's api saw callers: spiffe:\/\/[^/]+\/ns\/default\/sa\/web$/m);
    assert.match(out, /^demo ok/m);
    return out;
  };

  it('failover: two peered clusters; calls stay in dc1, move to dc2 with no failure when dc1 loses its api, and come home', { timeout: CLUSTERS_STALL_MS + 60_000 }, async () => {
    const out = await crossCluster('failover');
    assert.doesNotMatch(out, /mesh gateway/);
  });

  it("gateways: the same through dc2's mesh gateway: dc1 knows dc2's api only by the gateway's address, and dc2's api sees dc1's web", { timeout: CLUSTERS_STALL_MS + 60_000 }, async () => {
    const out = await crossCluster('gateways');
    const gateway = /^ {2}dc2 mesh gateway +(\S+) as /m.exec(out)?.[1];
    assert.ok(gateway, out);
    const view = /^dc1's view of api: (.+)$/m.exec(out)?.[1] ?? '';
    const dc2Endpoints = [...view.matchAll(/(\S+) \(dc2\)/g)].map((m) => m[1]);
    assert.deepEqual(dc2Endpoints, [gateway], out);
  });

  it('tracing: every request is one trace across demo, web, api and db, parented hop by hop, with the retry of a 503', { timeout: STALL_MS + 60_000 }, async () => {
    const { code, out } = await runDemo('tracing');
    assert.equal(code, 0, out);
    const m = /^(\d+) requests: (\d+) answered 200, (\d+) traces, (\d+)(?:-(\d+))? spans each across (\d+) processes, (\d+) spans without their parent, (\d+) retried after a 503/m.exec(out);
    assert.ok(m, out);
    const [requests, ok, traces, minSpans, , processes, orphans, retried] = [m[1], m[2], m[3], m[4], m[5], m[6], m[7], m[8]].map(num) as number[];
    assert.ok(requests! > 0, out);
    assert.equal(ok, requests, out);
    assert.equal(traces, requests, out);
    // demo's root and client spans, web's server and client, api's server and client, db's server per attempt.
    assert.ok(minSpans! >= 7, out);
    assert.equal(processes, 4, out);
    assert.equal(orphans, 0, out);
    assert.ok(retried! > 0, out);
    // The printed tree: api's client span (routed to subset v2) has the two db attempts under it.
    const tree = out.slice(out.indexOf('trace '));
    assert.match(tree, /└ api +CLIENT .*hyphae\.subset=v2 .*attempts=2/);
    assert.match(tree, /└ db +SERVER .*status_code=503\n *└ db +SERVER .*status_code=200/);
  });

  it('--keep leaves the demo running with the dashboard URL and a viewer token that reads; SIGTERM stops it all', { timeout: STALL_MS + 60_000 }, async () => {
    const child = startNode(demoScript, ['routing', '--keep']);
    try {
      await child.waitFor(/^Ctrl-C stops it all\./, STALL_MS);
      const out = child.lines.join('\n');
      const dashboard = /^ {2}dashboard {7}(https:\/\/127\.0\.0\.1:\d+)\/ui#token=\S+$/m.exec(out);
      assert.ok(dashboard, out);
      const caFile = /the browser must trust (\S+)\)/.exec(out)?.[1];
      const tokenFile = /top --token-file (\S+)$/m.exec(out)?.[1];
      assert.ok(caFile && tokenFile, out);
      // The printed viewer token reads what the demo made (the CLI the line tells a user to run).
      const { stdout } = await promisify(execFile)(process.execPath, [cliPath, 'get', 'routes', '--control-plane', dashboard[1]!, '--ca-file', caFile, '--token-file', tokenFile]);
      assert.match(stdout, /api-routing/);
      assert.equal(await stopped(child), 0, child.lines.join('\n'));
      // Everything was stopped and removed: the data directory holding the CA went with it.
      assert.equal(existsSync(caFile), false);
    } finally {
      await stopped(child);
    }
  });
});
