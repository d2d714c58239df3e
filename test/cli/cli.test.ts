/** The `hyphae` command line: help, flag errors, exit codes, signals. */
import assert from 'node:assert/strict';
import { execFile, spawn } from 'node:child_process';
import { once } from 'node:events';
import net from 'node:net';
import { rm } from 'node:fs/promises';
import path from 'node:path';
import { describe, it } from 'node:test';
import { promisify } from 'node:util';
import { cliPath, startNode } from '../helpers/process.js';
import { call, makeTempDir, startControlPlane, trustControlPlane } from '../helpers/control-plane.js';

const exec = promisify(execFile);

async function run(args: string[], env: NodeJS.ProcessEnv = process.env): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    // A ceiling against a hung CLI only: on a busy 2-core machine loading it can take seconds.
    const { stdout, stderr } = await exec(process.execPath, [cliPath, ...args], { timeout: 60_000, env });
    return { code: 0, stdout, stderr };
  } catch (err) {
    const e = err as { code: number; stdout: string; stderr: string };
    return { code: e.code, stdout: e.stdout, stderr: e.stderr };
  }
}

describe('hyphae CLI', () => {
  it('--help prints usage with the commands and exits 0', async () => {
    for (const flag of ['--help', '-h', 'help']) {
      const r = await run([flag]);
      assert.equal(r.code, 0, flag);
      assert.match(r.stdout, /^Usage: hyphae <command> \[options\]/);
      assert.match(r.stdout, /control-plane\s+run the control plane/);
      assert.equal(r.stderr, '');
    }
  });

  it('control-plane --help describes every flag and exits 0', async () => {
    for (const args of [
      ['control-plane', '--help'],
      ['help', 'control-plane'],
    ]) {
      const r = await run(args);
      assert.equal(r.code, 0);
      for (const flag of [
        '--port',
        '--host',
        '--data-dir',
        '--ttl',
        '--heartbeat-ms',
        '--body-limit',
        '--max-connections',
        '--tls-handshake-timeout',
        '--headers-timeout',
        '--request-timeout',
        '--log-format',
        '--metrics-listen',
        '--metrics-max-connections',
      ])
        assert.ok(r.stdout.includes(flag), flag);
      assert.match(r.stdout, /default 15010/);
    }
  });

  it('--version prints the package version', async () => {
    const r = await run(['--version']);
    assert.equal(r.code, 0);
    assert.match(r.stdout.trim(), /^\d+\.\d+\.\d+/);
  });

  it('exits 2 with a message naming the problem for bad flags', async () => {
    const cases: [string[], RegExp][] = [
      [['control-plane', '--bogus'], /Unknown option '--bogus'/],
      [['control-plane', '--port', 'abc'], /--port must be an integer from 0 to 65535, got "abc"/],
      [['control-plane', '--port', '70000'], /--port must be an integer from 0 to 65535, got "70000"/],
      [['control-plane', '--ttl', '0'], /--ttl must be a number from 1 to 300, got "0"/],
      [['control-plane', '--port'], /--port/],
      [['control-plane', 'extra'], /Unexpected argument 'extra'/],
      [['control-plane', '--data-dir', ''], /--data-dir must not be empty/],
      [['control-plane', '--log-format', 'xml'], /--log-format must be text or json, got "xml"/],
      [['control-plane', '--metrics-listen', '::1:9464'], /--metrics-listen must be <host>:<port>, <port> or \[<ipv6>\]:<port>/],
      [['control-plane', '--metrics-listen', '127.0.0.1:99999'], /--metrics-listen must be/],
      [['control-plane', '--metrics-max-connections', '4'], /--metrics-max-connections needs --metrics-listen/],
    ];
    for (const [args, message] of cases) {
      const r = await run(args);
      assert.equal(r.code, 2, args.join(' '));
      assert.match(r.stderr, message, args.join(' '));
      assert.match(r.stderr, /Run "hyphae control-plane --help" for usage/);
      assert.equal(r.stdout, '');
    }
  });

  it('exits 2 with the help text for an unknown command or none', async () => {
    const unknown = await run(['frobnicate']);
    assert.equal(unknown.code, 2);
    assert.match(unknown.stderr, /unknown command "frobnicate"/);
    assert.match(unknown.stderr, /Usage: hyphae <command>/);
    const none = await run([]);
    assert.equal(none.code, 2);
    assert.match(none.stderr, /Usage: hyphae <command>/);
  });

  it('exits 1 with a clear message when the port is taken', async () => {
    const cp = await startControlPlane();
    try {
      const dir = await makeTempDir();
      try {
        const r = await run(['control-plane', '--port', String(cp.port), '--data-dir', dir]);
        assert.equal(r.code, 1);
        assert.match(r.stderr, /cannot listen on 127\.0\.0\.1:\d+: EADDRINUSE/);
      } finally {
        await rm(dir, { recursive: true, force: true });
      }
    } finally {
      await cp.stop();
    }
  });

  it('prints exactly one "listening" line, and closes cleanly (exit 0) on SIGINT and SIGTERM', async () => {
    for (const signal of ['SIGINT', 'SIGTERM'] as const) {
      const dir = await makeTempDir();
      let cleanup: (() => Promise<unknown>) | undefined;
      try {
        const child = startNode(cliPath, ['control-plane', '--port', '0', '--data-dir', dir]);
        // Killed however the test ends: a live child would keep this test file's process running.
        cleanup = () => child.kill('SIGKILL');
        // Generous: a first start makes RSA keys (the CA root, the HTTPS certificate), slow on a busy machine.
        const [, url] = await child.waitFor(/listening (https:\/\/127\.0\.0\.1:\d+) data=/, 60_000);
        await trustControlPlane({ url: url!, caFile: path.join(dir, 'ca-bundle.pem'), adminTokenFile: undefined });
        assert.equal((await call(url!, 'GET', '/v1/health')).status, 200);
        assert.equal(child.lines.filter((l) => l.includes('listening https://')).length, 1);
        assert.equal(await child.kill(signal), 0, signal);
        assert.ok(child.lines.some((l) => l.includes(`shutting down (${signal})`)));
        assert.ok(child.lines.at(-1)!.endsWith(' closed'), child.lines.at(-1));
      } finally {
        await cleanup?.();
        await rm(dir, { recursive: true, force: true });
      }
    }
  });
  it('a reader that goes away (`| head`) ends a read command quietly with 0, not an EPIPE stack trace', async () => {
    const child = spawn(process.execPath, [cliPath, 'schema'], { stdio: ['ignore', 'pipe', 'pipe'] });
    // The read end closes before the CLI has even loaded, so its first write meets EPIPE.
    child.stdout.destroy();
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const [code] = (await once(child, 'exit')) as [number | null];
    assert.equal(stderr, '');
    assert.equal(code, 0);
  });

  it('connection failures say which flag or URL fixes them', async () => {
    const secure = await startControlPlane();
    const plain = await startControlPlane({ insecure: true });
    // A port that was just free: nothing listens there.
    const closed = net.createServer();
    await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve));
    const closedPort = (closed.address() as net.AddressInfo).port;
    await new Promise((r) => closed.close(r));
    const env = { ...process.env };
    for (const k of Object.keys(env)) if (k.startsWith('HYPHAE_')) delete env[k];
    // Some other CA, made by a real openssl: a --ca-file that does not sign this control plane.
    const dir = await makeTempDir();
    const otherCa = path.join(dir, 'other-ca.pem');
    await exec('openssl', [
      'req',
      '-x509',
      '-newkey',
      'ec',
      '-pkeyopt',
      'ec_paramgen_curve:P-256',
      '-nodes',
      '-subj',
      '/CN=some other CA',
      '-days',
      '1',
      '-keyout',
      path.join(dir, 'key.pem'),
      '-out',
      otherCa,
    ]);
    try {
      const cases: [string, string[], RegExp][] = [
        ['https without its CA', ['--control-plane', secure.url], /hint: the control plane's certificate is signed by its own CA: give --ca-file <data-dir>\/ca-bundle\.pem \(or HYPHAE_CA_FILE\)/],
        ['the wrong CA', ['--control-plane', secure.url, '--ca-file', otherCa], /hint: the control plane's certificate is not signed by the CA in --ca-file/],
        ['http:// to the HTTPS control plane', ['--control-plane', secure.url.replace('https://', 'http://')], /hint: the control plane serves HTTPS unless started with --insecure: use https:\/\//],
        ['https:// to an --insecure one', ['--control-plane', plain.url.replace('http://', 'https://')], /hint: this control plane speaks plain HTTP \(started with --insecure\): use http:\/\//],
        ['nothing listening', ['--control-plane', `https://127.0.0.1:${closedPort}`], /hint: nothing listens there/],
      ];
      for (const [what, flags, hint] of cases) {
        const r = await run(['get', 'services', ...flags], env);
        assert.equal(r.code, 1, what);
        assert.match(r.stderr, /^hyphae get: cannot reach the control plane at /, what);
        assert.match(r.stderr, hint, `${what}: ${r.stderr}`);
      }
    } finally {
      await Promise.all([secure.stop(), plain.stop(), rm(dir, { recursive: true, force: true })]);
    }
  });
});
