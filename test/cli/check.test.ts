/** `hyphae check` and `hyphae version` against a real control plane with real services (src/cli/commands/check.ts, version.ts). */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { promisify } from 'node:util';
import { PACKAGE_VERSION } from '../../src/core/version.js';
import { call, makeTempDir, startControlPlane, type RunningControlPlane } from '../helpers/control-plane.js';
import { cliPath } from '../helpers/process.js';
import { startApi, waitUntil, type RunningService } from '../helpers/services.js';

const exec = promisify(execFile);

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

async function hyphae(args: string[]): Promise<Run> {
  try {
    const { stdout, stderr } = await exec(process.execPath, [cliPath, ...args], { timeout: 60_000 });
    return { code: 0, stdout, stderr };
  } catch (err) {
    const e = err as { code: number; stdout: string; stderr: string };
    return { code: e.code, stdout: e.stdout, stderr: e.stderr };
  }
}

interface Line {
  category: string;
  check: string;
  verdict: 'ok' | 'warn' | 'fail';
  message: string;
  hint?: string;
}

const SERVICE = `apiVersion: hyphae.dev/v1
kind: Service
metadata: { name: api }
spec:
  subsets:
    - { name: v1, labels: { version: v1 } }
    - { name: v2, labels: { version: v2 } }
---
apiVersion: hyphae.dev/v1
kind: Route
metadata: { name: split }
spec:
  parentRefs: [{ name: api }]
  rules:
    - backendRefs:
        - { name: api, subset: v1, weight: 50 }
        - { name: api, subset: v2, weight: 50 }
`;

const BROKEN = `apiVersion: hyphae.dev/v1
kind: AuthorizationPolicy
metadata: { name: lockout }
spec:
  selector: { service: api }
  action: ALLOW
---
apiVersion: hyphae.dev/v1
kind: Service
metadata: { name: ghost }
spec: {}
`;

describe('hyphae check', () => {
  let cp: RunningControlPlane;
  let v1: RunningService;
  let v2: RunningService;
  let dir: string;

  before(async () => {
    cp = await startControlPlane();
    [v1, v2] = await Promise.all([startApi(cp, 'v1'), startApi(cp, 'v2')]);
    dir = await makeTempDir('hyphae-check-');
  });

  after(async () => {
    await Promise.all([v1?.child.kill(), v2?.child.kill()]);
    await cp?.stop();
  });

  /** Until both processes have sent a stats report (every 2 s): before that, check rightly warns that they have not. */
  async function bothReporting(): Promise<void> {
    await waitUntil(
      async () => {
        const s = await call<{ instances: { health: string }[] }>(cp.url, 'GET', '/v1/stats/summary');
        return s.body.instances.length === 2 && s.body.instances.every((i) => i.health === 'reporting');
      },
      30_000,
      100,
    );
  }

  it('a healthy mesh: every line √, exit 0, in text and in JSON', async () => {
    await writeFile(path.join(dir, 'api.yaml'), SERVICE);
    const applied = await hyphae(['apply', '-f', path.join(dir, 'api.yaml'), ...cp.cliFlags]);
    assert.equal(applied.code, 0, applied.stderr);
    await bothReporting();

    const text = await hyphae(['check', ...cp.cliFlags]);
    assert.equal(text.code, 0, text.stdout + text.stderr);
    const lines = text.stdout.split('\n').filter((l) => /^[√‼×] /.test(l));
    assert.ok(lines.length >= 9, text.stdout);
    assert.deepEqual(
      lines.filter((l) => !l.startsWith('√')),
      [],
      text.stdout,
    );
    assert.match(text.stdout, /^control plane\n-------------\n√ the control plane is reachable at https:\/\/127\.0\.0\.1:\d+\n/);
    assert.match(text.stdout, /√ the CA of hyphae\.local is valid for 36\d\d more days/);
    assert.match(text.stdout, /√ 2 instance certificates valid/);
    assert.match(text.stdout, /√ every route sends to instances that exist \(1 route\)/);
    assert.match(text.stdout, /\nStatus check results are √\n$/);

    const j = await hyphae(['check', '-o', 'json', ...cp.cliFlags]);
    assert.equal(j.code, 0, j.stderr);
    const report = JSON.parse(j.stdout) as { ok: boolean; failed: number; warnings: number; checks: Line[] };
    assert.equal(report.ok, true);
    assert.equal(report.failed + report.warnings, 0);
    const names = new Set(report.checks.map((c) => c.check));
    for (const name of ['reachable', 'healthy', 'version', 'clock-skew', 'ca-valid', 'certificates', 'service-instances', 'instance-stats', 'route-backends', 'policies']) {
      assert.ok(names.has(name), `${name} in ${[...names].join(', ')}`);
    }
    assert.equal(report.checks.length, lines.length, 'JSON has the lines the text has');
  });

  it('a route to a subset no instance serves, an ALLOW policy with no rules, a service with no instances: × and ‼ with hints, exit 1', async () => {
    // Valid when applied (v2 ran); then the v2 instance leaves, and the route's half goes nowhere.
    assert.equal(await v2.child.kill('SIGTERM'), 0);
    await waitUntil(async () => (await call<{ instances: unknown[] }>(cp.url, 'GET', '/v1/instances?service=api')).body.instances.length === 1, 30_000, 50);
    await writeFile(path.join(dir, 'broken.yaml'), BROKEN);
    const applied = await hyphae(['apply', '-f', path.join(dir, 'broken.yaml'), ...cp.cliFlags]);
    assert.equal(applied.code, 0, applied.stderr);

    const r = await hyphae(['check', ...cp.cliFlags]);
    assert.equal(r.code, 1, r.stdout + r.stderr);
    const out = r.stdout;
    assert.match(
      out,
      /^× Route default\/split spec\.rules\[0\]\.backendRefs\[1\]: sends to subset "v2" of default\/api \(version=v2\), which no running instance carries\n {4}hint: .*start an instance labelled version=v2/m,
    );
    assert.doesNotMatch(out, /backendRefs\[0\]/, 'the v1 half is served');
    assert.match(out, /^× AuthorizationPolicy default\/lockout \(ALLOW with no rules\) denies every request to service default\/api\n {4}hint: /m);
    assert.match(out, /^‼ service default\/ghost has no instances \(it has a Service resource\)\n {4}hint: /m);
    assert.match(out, /^√ the control plane is healthy/m, 'the rest still passes');
    assert.match(out, /\nStatus check results are × \(2 failed, 1 warning\)\n$/);

    const j = JSON.parse((await hyphae(['check', '--output', 'json', ...cp.cliFlags])).stdout) as { ok: boolean; checks: Line[] };
    assert.equal(j.ok, false);
    const failed = j.checks.filter((c) => c.verdict === 'fail');
    assert.deepEqual(failed.map((c) => c.check).sort(), ['policies', 'route-backends']);
    assert.ok(failed.every((c) => c.hint && c.hint.length > 10));
  });

  it('an unreachable control plane: one × line with the hint, exit 1', async () => {
    const r = await hyphae(['check', '--control-plane', 'https://127.0.0.1:9', '--ca-file', cp.caFile!]);
    assert.equal(r.code, 1);
    assert.match(r.stdout, /^× cannot reach the control plane: cannot reach the control plane at https:\/\/127\.0\.0\.1:9.*\n {4}hint: nothing listens there/m);
    assert.doesNotMatch(r.stdout, /^√/m);
  });

  it('usage errors exit 2', async () => {
    // -o wide is every read command's (issue 19): for check, the lines as they are; another value is refused.
    const r = await hyphae(['check', '-o', 'xml', ...cp.cliFlags]);
    assert.equal(r.code, 2);
    assert.match(r.stderr, /-o must be one of json, yaml, wide, got "xml"/);
    const twice = await hyphae(['check', '--json', '-o', 'yaml', ...cp.cliFlags]);
    assert.equal(twice.code, 2);
    assert.match(twice.stderr, /--json and -o yaml ask for two formats/);
  });
});

describe('hyphae version', () => {
  let cp: RunningControlPlane;
  let fake: http.Server;
  let fakeUrl: string;

  before(async () => {
    cp = await startControlPlane();
    // A control plane of another release whose clock is 10 minutes ahead: only the health answer matters here.
    fake = http.createServer((req, res) => {
      const date = new Date(Date.now() + 600_000).toUTCString();
      if (req.url === '/v1/health') {
        res.writeHead(200, { 'content-type': 'application/json', date });
        res.end(JSON.stringify({ status: 'ok', version: '9.4.0', revision: 1, services: 0, instances: 0, store: { ok: true, store: 'file' } }));
      } else {
        res.writeHead(404, { 'content-type': 'application/json', date });
        res.end(JSON.stringify({ error: { code: 'HYPHAE_ERR_NOT_FOUND', message: 'not here' } }));
      }
    });
    await new Promise<void>((resolve) => fake.listen(0, '127.0.0.1', resolve));
    fakeUrl = `http://127.0.0.1:${(fake.address() as AddressInfo).port}`;
  });

  after(async () => {
    await new Promise((resolve) => fake?.close(resolve));
    await cp?.stop();
  });

  it("prints the CLI's and the control plane's versions; --client asks nobody", async () => {
    const r = await hyphae(['version', ...cp.cliFlags]);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout, `Client Version: ${PACKAGE_VERSION}\nControl Plane Version: ${PACKAGE_VERSION} (${cp.url})\n`);
    assert.equal(r.stderr, '');
    const j = JSON.parse((await hyphae(['version', '-o', 'json', ...cp.cliFlags])).stdout) as Record<string, unknown>;
    assert.deepEqual(j, { clientVersion: PACKAGE_VERSION, serverVersion: PACKAGE_VERSION, controlPlane: cp.url });
    // Nothing listens on port 9: --client must not try.
    const c = await hyphae(['version', '--client', '--control-plane', 'http://127.0.0.1:9']);
    assert.equal(c.code, 0);
    assert.equal(c.stdout, `Client Version: ${PACKAGE_VERSION}\n`);
    const down = await hyphae(['version', '--control-plane', 'http://127.0.0.1:9']);
    assert.equal(down.code, 1);
    assert.equal(down.stdout, `Client Version: ${PACKAGE_VERSION}\n`);
    assert.match(down.stderr, /cannot reach the control plane at http:\/\/127\.0\.0\.1:9/);
  });

  it('warns on a skew of minor or major, and check says it with the clock skew', async () => {
    const r = await hyphae(['version', '--control-plane', fakeUrl]);
    assert.equal(r.code, 0);
    assert.match(r.stdout, /^Control Plane Version: 9\.4\.0 /m);
    assert.match(r.stderr, new RegExp(`^WARNING: the CLI is ${PACKAGE_VERSION.replace(/\./g, '\\.')} and the control plane 9\\.4\\.0 \\(a major version apart\\)`));
    const j = JSON.parse((await hyphae(['version', '-o', 'json', '--control-plane', fakeUrl])).stdout) as { warning?: string };
    assert.match(j.warning ?? '', /a major version apart/);

    const check = await hyphae(['check', '--control-plane', fakeUrl]);
    assert.equal(check.code, 1, check.stdout);
    assert.match(check.stdout, /^‼ the CLI is .* and the control plane 9\.4\.0 \(a major version apart\)/m);
    assert.match(check.stdout, /^× this machine's clock is 10 min behind the control plane's, more than the 60 s certificates are backdated by\n {4}hint: synchronise the clocks/m);
  });
});
