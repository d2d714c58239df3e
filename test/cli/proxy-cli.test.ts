/** `hyphae proxy`'s command line: help, and the mistakes it refuses before starting anything. */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { describe, it } from 'node:test';
import { promisify } from 'node:util';
import { cliPath } from '../helpers/process.js';

const exec = promisify(execFile);

async function run(args: string[], env: Record<string, string> = {}): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    // A ceiling against a hung CLI only.
    const { stdout, stderr } = await exec(process.execPath, [cliPath, ...args], { timeout: 60_000, env: { ...process.env, HYPHAE_CONTROL_PLANE: 'http://127.0.0.1:9', ...env } });
    return { code: 0, stdout, stderr };
  } catch (err) {
    const e = err as { code: number; stdout: string; stderr: string };
    return { code: e.code, stdout: e.stdout, stderr: e.stderr };
  }
}

describe('hyphae proxy command line', () => {
  it('is listed in hyphae --help, and proxy --help describes it (a sidecar) and exits 0', async () => {
    assert.match((await run(['--help'])).stdout, /proxy\s+sidecar for a service in another language/);
    const r = await run(['proxy', '--help']);
    assert.equal(r.code, 0);
    assert.match(r.stdout, /^Usage: hyphae proxy --service <name> --upstream <host:port>/);
    for (const flag of ['--listen', '--outbound', '--health-path', '--health-interval', '--health-failures', '--token-file', '--ca-file']) assert.ok(r.stdout.includes(flag), flag);
  });

  it('refuses with exit 2: a token on the command line, no --upstream, a bad host:port, a bad duration', async () => {
    const cases: [string[], RegExp][] = [
      [['proxy', '--service', 'x', '--upstream', '127.0.0.1:9000', '--token', 'secret-secret-secret'], /--token puts the join token on the command line/],
      [['proxy', '--service', 'x'], /--upstream <host:port> is required/],
      [['proxy', '--service', 'x', '--upstream', '9000'], /--upstream must be host:port/],
      [['proxy', '--service', 'x', '--upstream', '127.0.0.1:9000', '--health-interval', 'often'], /--health-interval must be a duration/],
    ];
    for (const [args, message] of cases) {
      const r = await run(args);
      assert.equal(r.code, 2, args.join(' '));
      assert.match(r.stderr, message, args.join(' '));
    }
  });
});
