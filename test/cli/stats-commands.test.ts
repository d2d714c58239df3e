/** `hyphae status`, `top` and `describe`: help, usage errors, failures, and top's live loop (figures: test/scenarios/observability). */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { after, before, describe, it } from 'node:test';
import { promisify } from 'node:util';
import { cliPath, startNode } from '../helpers/process.js';
import { call, startControlPlane, type RunningControlPlane } from '../helpers/control-plane.js';

const exec = promisify(execFile);

async function run(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const { stdout, stderr } = await exec(process.execPath, [cliPath, ...args], { timeout: 60_000 });
    return { code: 0, stdout, stderr };
  } catch (err) {
    const e = err as { code: number; stdout: string; stderr: string };
    return { code: e.code, stdout: e.stdout, stderr: e.stderr };
  }
}

describe('hyphae status, top, describe', () => {
  let cp: RunningControlPlane;

  before(async () => {
    cp = await startControlPlane();
  });

  after(async () => {
    await cp.stop();
  });

  it('are listed in hyphae --help and each has its own help', async () => {
    const top = await run(['--help']);
    for (const name of ['status', 'top', 'describe']) assert.match(top.stdout, new RegExp(`\\n  ${name}\\s+\\S`), name);
    for (const [name, flags] of [
      ['status', ['--json', '--window', '--control-plane']],
      ['top', ['--once', '--interval', '--service', '--json']],
      ['describe', ['--namespace', '--json']],
    ] as const) {
      const r = await run([name, '--help']);
      assert.equal(r.code, 0);
      for (const f of flags) assert.ok(r.stdout.includes(f), `${name} --help mentions ${f}`);
    }
  });

  it('exit 2 with a message for usage errors', async () => {
    const cases: [string[], RegExp][] = [
      [['describe'], /say what to describe: hyphae describe service <name>/],
      [['describe', 'service'], /name the service/],
      [['describe', 'pod', 'x'], /cannot describe "pod"/],
      [['top', '--window', '0'], /--window must be an integer from 1 to 60, got "0"/],
      [['top', '--interval', 'x'], /--interval must be a number/],
      [['status', '--bogus'], /Unknown option '--bogus'/],
    ];
    for (const [args, message] of cases) {
      const r = await run([...args, ...cp.cliFlags]);
      assert.equal(r.code, 2, args.join(' '));
      assert.match(r.stderr, message, args.join(' '));
    }
  });

  it('exit 1 when the control plane cannot be reached or the service is unknown', async () => {
    const down = await run(['status', '--control-plane', 'http://127.0.0.1:9']);
    assert.equal(down.code, 1);
    assert.match(down.stderr, /cannot reach the control plane at http:\/\/127\.0\.0\.1:9/);
    const unknown = await run(['describe', 'service', 'nosuch', ...cp.cliFlags]);
    assert.equal(unknown.code, 1);
    assert.match(unknown.stderr, /service default\/nosuch is not known/);
  });

  it('status on an empty mesh says so; top refreshes until Ctrl-C and exits 0', async () => {
    const s = await run(['status', ...cp.cliFlags]);
    assert.equal(s.code, 0);
    assert.match(s.stdout, /No services yet\.\n\nNo warnings\./);
    // A report arrives while top is running: the next refresh shows it.
    const top = startNode(cliPath, ['top', '--interval', '0.3', ...cp.cliFlags]);
    await top.waitFor(/No traffic reported in this window\./);
    const posted = await call(cp.url, 'POST', '/v1/stats', { reporter: 'cli-test-1', service: 'web', intervalMs: 1000, edges: [{ destination: 'api', requests: 7, errors: 0, latency: [[20, 7]] }] });
    assert.equal(posted.status, 204);
    await top.waitFor(/^web\s+api\s+7\.0\s+100%/);
    assert.equal(await top.kill('SIGINT'), 0);
    assert.ok(top.lines.filter((l) => l.startsWith('hyphae top')).length >= 2, 'refreshed more than once');
  });
});
