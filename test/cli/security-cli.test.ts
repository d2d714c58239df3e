/** The security side of the `hyphae` command: token create|list|revoke, ca show, control-plane security flags and --insecure. */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { readFile, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { request } from 'undici';
import type { ApiErrorBody, ServiceSnapshot } from '../../src/config/wire.js';
import { createCsr } from '../../src/tls/csr.js';
import { generateKeyPair } from '../../src/tls/keys.js';
import { call, makeTempDir, startControlPlane, Watcher, type RunningControlPlane } from '../helpers/control-plane.js';
import { run } from '../helpers/pki.js';
import { cliPath, startNode } from '../helpers/process.js';

const hyphae = (...args: string[]) => run(process.execPath, [cliPath, ...args]);

describe('hyphae token and ca', () => {
  let cp: RunningControlPlane;
  let conn: string[];
  let tokenDir: string;
  /** A token in a file of its own (0600), as a CLI is given one: never on its command line. */
  const tokenFile = async (token: string): Promise<string> => {
    const file = path.join(tokenDir, `token-${randomUUID()}`);
    await writeFile(file, `${token}\n`, { mode: 0o600 });
    return file;
  };
  before(async () => {
    cp = await startControlPlane();
    conn = cp.cliFlags;
    tokenDir = await makeTempDir('hyphae-cli-tokens-');
  });
  after(async () => {
    await cp?.stop();
    if (tokenDir) await rm(tokenDir, { recursive: true, force: true });
  });

  it('token create prints a working join token; list shows it without the secret; revoke ends it', async () => {
    const created = await hyphae('token', 'create', '--service', 'api', '--ttl', '1h', ...conn);
    assert.equal(created.code, 0, created.stderr);
    const token = created.stdout.trim();
    assert.match(token, /^jt_[0-9a-f]{16}\.[A-Za-z0-9_-]{43}$/);
    assert.match(created.stderr, /join token jt_[0-9a-f]{16} for default\/api, expires \d{4}-/);
    assert.equal((await call(cp.url, 'GET', '/v1/services', undefined, { token })).status, 200, 'the token works');

    const list = await hyphae('token', 'list', ...conn);
    assert.equal(list.code, 0, list.stderr);
    assert.match(list.stdout, /^ID\s+NAMESPACE\s+SERVICE\s+SOURCE\s+CREATED\s+EXPIRES/);
    const id = token.split('.')[0]!;
    assert.match(list.stdout, new RegExp(`${id}\\s+default\\s+api\\s+api\\s+`));
    assert.ok(!list.stdout.includes(token.split('.')[1]!), 'no secret in the list');

    const revoked = await hyphae('token', 'revoke', id, ...conn);
    assert.equal(revoked.code, 0, revoked.stderr);
    assert.equal((await call(cp.url, 'GET', '/v1/services', undefined, { token })).status, 401);
    const json = JSON.parse((await hyphae('token', 'list', '--json', ...conn)).stdout) as { id: string }[];
    assert.ok(!json.some((t) => t.id === id));
  });

  it('says what is wrong: no admin token (401), a join token (403), a bad flag (exit 2), an unknown id (404)', async () => {
    const noToken = await hyphae('token', 'list', '--control-plane', cp.url, '--ca-file', cp.caFile!);
    assert.equal(noToken.code, 1);
    assert.match(noToken.stderr, /HYPHAE_ERR_UNAUTHENTICATED: this endpoint needs a token/);
    const join = await cp.joinToken('web');
    const asJoin = await hyphae('token', 'create', '--service', 'x', '--control-plane', cp.url, '--token-file', await tokenFile(join), '--ca-file', cp.caFile!);
    assert.equal(asJoin.code, 1);
    assert.match(asJoin.stderr, /HYPHAE_ERR_FORBIDDEN: this endpoint needs the admin token/);
    const noService = await hyphae('token', 'create', ...conn);
    assert.equal(noService.code, 2);
    assert.match(noService.stderr, /token create needs --service <name>/);
    const badTtl = await hyphae('token', 'create', '--service', 'api', '--ttl', 'soon', ...conn);
    assert.equal(badTtl.code, 2);
    assert.match(badTtl.stderr, /--ttl must be a duration/);
    const unknown = await hyphae('token', 'revoke', 'jt_0000000000000000', ...conn);
    assert.equal(unknown.code, 1);
    assert.match(unknown.stderr, /HYPHAE_ERR_NOT_FOUND/);
    const noCa = await hyphae('token', 'list', '--control-plane', cp.url, '--token-file', await tokenFile(cp.adminToken!));
    assert.equal(noCa.code, 1);
    assert.match(noCa.stderr, /cannot reach the control plane at https:.*(self-signed|certificate)/);
  });

  it('token create --viewer: a read-only token that reads the dashboard API and CLI views, and cannot register, obtain a certificate or write', async () => {
    const created = await hyphae('token', 'create', '--viewer', '--ttl', '1h', ...conn);
    assert.equal(created.code, 0, created.stderr);
    const viewer = created.stdout.trim();
    assert.match(viewer, /^vt_[0-9a-f]{16}\.[A-Za-z0-9_-]{43}$/);
    assert.match(created.stderr, /viewer token vt_[0-9a-f]{16} \(read-only\), expires \d{4}-/);
    const both = await hyphae('token', 'create', '--viewer', '--service', 'api', ...conn);
    assert.equal(both.code, 2);

    // What the dashboard reads, and what the read-only commands read.
    assert.equal((await call(cp.url, 'GET', '/v1/stats/summary', undefined, { token: viewer })).status, 200);
    const stream = await request(`${cp.url}/v1/stats/stream`, { dispatcher: cp.dispatcher, headers: { authorization: `Bearer ${viewer}`, accept: 'text/event-stream' } });
    assert.equal(stream.statusCode, 200);
    assert.match(String(stream.headers['content-type']), /text\/event-stream/);
    stream.body.destroy();
    const viewerFlags = ['--control-plane', cp.url, '--token-file', await tokenFile(viewer), '--ca-file', cp.caFile!];
    for (const args of [
      ['get', 'services'],
      ['status', '--json'],
    ]) {
      const r = await hyphae(...args, ...viewerFlags);
      assert.equal(r.code, 0, `hyphae ${args.join(' ')} with a viewer token: ${r.stderr}`);
    }

    // Nothing that makes it a workload or changes anything.
    const csr = createCsr(await generateKeyPair(), { trustDomain: 'hyphae.local', namespace: 'default', service: 'dashboard' });
    const refused: [string, string, unknown][] = [
      ['POST', '/v1/certificates', { csr }],
      ['POST', '/v1/instances', { service: 'dashboard', address: '127.0.0.1', port: 4300 }],
      ['POST', '/v1/stats', {}],
      ['PUT', '/v1/resources', { apiVersion: 'hyphae.dev/v1', kind: 'Service', metadata: { name: 'viewer-made' } }],
      ['DELETE', '/v1/resources/Service/default/api', undefined],
      ['POST', '/v1/tokens', { service: 'api' }],
      ['GET', '/v1/tokens', undefined],
      ['POST', '/v1/ca/rotate', {}],
    ];
    for (const [method, path, body] of refused) {
      const res = await call<ApiErrorBody>(cp.url, method, path, body, { token: viewer });
      assert.equal(res.status, 403, `${method} ${path}: ${res.text}`);
      assert.equal(res.body.error.code, 'HYPHAE_ERR_FORBIDDEN');
      assert.match(res.body.error.message, /viewer token vt_[0-9a-f]{16} is read-only/);
    }
    const dir = await makeTempDir('hyphae-viewer-');
    try {
      await writeFile(path.join(dir, 'svc.yaml'), 'apiVersion: hyphae.dev/v1\nkind: Service\nmetadata:\n  name: viewer-made\n');
      const apply = await hyphae('apply', '-f', path.join(dir, 'svc.yaml'), ...viewerFlags);
      assert.equal(apply.code, 1);
      assert.match(apply.stderr, /HYPHAE_ERR_FORBIDDEN/);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
    assert.equal((await call(cp.url, 'GET', '/v1/resources/Service/default/viewer-made')).status, 404, 'nothing was written');

    // Listed with its kind, revoked like a join token.
    const list = await hyphae('token', 'list', ...conn);
    const id = viewer.split('.')[0]!;
    assert.match(list.stdout, new RegExp(`${id}\\s+-\\s+-\\s+api\\s+\\S+\\s+\\S+\\s+viewer`));
    assert.equal((await hyphae('token', 'revoke', id, ...conn)).code, 0);
    assert.equal((await call(cp.url, 'GET', '/v1/stats/summary', undefined, { token: viewer })).status, 401);
  });

  it('ca show describes the CA, --bundle prints the trust bundle as PEM', async () => {
    const show = await hyphae('ca', 'show', ...conn);
    assert.equal(show.code, 0, show.stderr);
    assert.match(show.stdout, /^trust domain hyphae\.local, bundle v1, 1 root\(s\), certificates live 86400s/);
    assert.match(show.stdout, /active \(signs new certificates\)/);
    const bundle = await hyphae('ca', 'show', '--bundle', ...conn);
    assert.equal(bundle.stdout, await readFile(cp.caFile!, 'utf8'));
  });
});

describe('hyphae control-plane security flags', () => {
  const dirs: string[] = [];
  after(async () => Promise.all(dirs.map((d) => rm(d, { recursive: true, force: true }))));

  it('refuses bad security flags with exit 2 and a message naming the flag', async () => {
    const cases: [string[], RegExp][] = [
      [['--cert-ttl', '0s'], /--cert-ttl must be a duration such as 30s, 10m, 1h30m or 90d, from 1s to 365d/],
      [['--cert-ttl', 'forever'], /--cert-ttl must be a duration/],
      [['--ca-cert', 'x.pem'], /give --ca-cert and --ca-key together/],
      [['--insecure', '--join-tokens-file', 'tokens.txt'], /--insecure runs without a CA and tokens/],
      [['--insecure', '--new-ca'], /--insecure runs without a CA and tokens/],
      [['--new-ca', '--store', 'etcd', '--etcd-endpoints', 'http://127.0.0.1:1', '--ca-encryption-key-file', 'k'], /--new-ca is for the file store/],
    ];
    for (const [args, message] of cases) {
      const r = await hyphae('control-plane', '--port', '0', '--data-dir', '/nonexistent-hyphae', ...args);
      assert.equal(r.code, 2, args.join(' '));
      assert.match(r.stderr, message);
    }
  });

  it('refuses a join-token secret on its command line, naming the replacements, and never echoes it', async () => {
    const dataDir = await makeTempDir();
    dirs.push(dataDir);
    const secret = 'argv-secret-0123456789abcdef0123456789';
    const child = startNode(cliPath, ['control-plane', '--port', '0', '--data-dir', dataDir, '--join-token', `api=${secret}`]);
    const listening = await Promise.race([child.waitFor(/listening https:/, 60_000).then(() => true), child.exited.then(() => false)]);
    if (listening) await child.kill('SIGKILL');
    const out = child.lines.join('\n');
    assert.equal(listening, false, `a secret on the command line must be refused, not served:\n${out}`);
    assert.equal(await child.exited, 2);
    assert.match(out, /--join-token puts the secret on the command line, where every local user can read it \(ps, \/proc\/<pid>\/cmdline\)/);
    assert.match(out, /--join-token-file \[<ns>\/\]<service>=<file>.*--join-tokens-file <file>.*HYPHAE_JOIN_TOKENS/);
    assert.ok(!out.includes(secret), 'the secret is not echoed');
  });

  it('takes pre-provisioned join tokens from files and HYPHAE_JOIN_TOKENS (>= 32 characters), and a trust domain', async () => {
    const dataDir = await makeTempDir();
    dirs.push(dataDir);
    const file = path.join(dataDir, 'tokens.txt');
    await writeFile(file, 'shop/cart=cart-secret-0123456789abcdef012345\n', { mode: 0o600 });
    const single = path.join(dataDir, 'web.token');
    await writeFile(single, 'web-secret-0123456789abcdef0123456789\n', { mode: 0o600 });
    const cp = await startControlPlane({
      dataDir,
      args: ['--join-token-file', `web=${single}`, '--join-tokens-file', file, '--trust-domain', 'corp.test'],
      env: { HYPHAE_JOIN_TOKENS: 'api=api-secret-0123456789abcdef0123456789 shop/ledger=ledger-secret-0123456789abcdef012' },
    });
    try {
      const bundle = await call<{ trustDomain: string }>(cp.url, 'GET', '/v1/trust-bundle');
      assert.equal(bundle.body.trustDomain, 'corp.test');
      const reg = (service: string, namespace: string, token: string) => call(cp.url, 'POST', '/v1/instances', { service, namespace, address: '127.0.0.1', port: 1 }, { token });
      assert.equal((await reg('cart', 'shop', 'cart-secret-0123456789abcdef012345')).status, 201);
      assert.equal((await reg('web', 'default', 'web-secret-0123456789abcdef0123456789')).status, 201);
      assert.equal((await reg('api', 'default', 'api-secret-0123456789abcdef0123456789')).status, 201);
      assert.equal((await reg('ledger', 'shop', 'ledger-secret-0123456789abcdef012')).status, 201);
      assert.equal((await reg('cart', 'shop', 'api-secret-0123456789abcdef0123456789')).status, 403);
    } finally {
      await cp.stop();
    }
  });

  it('refuses join-token secrets shorter than 32 characters, naming where they came from', async () => {
    const dataDir = await makeTempDir();
    dirs.push(dataDir);
    const single = path.join(dataDir, 'web.token');
    await writeFile(single, 'short-web-secret-0123\n', { mode: 0o600 });
    const fromFile = await hyphae('control-plane', '--port', '0', '--data-dir', dataDir, '--join-token-file', `web=${single}`);
    assert.equal(fromFile.code, 1);
    assert.match(fromFile.stderr, new RegExp(`--join-token-file ${single}: the secret for default/web must be 32 to 512 characters without spaces \\(it has 21\\)`));
    const fromEnv = await run(process.execPath, [cliPath, 'control-plane', '--port', '0', '--data-dir', dataDir], { env: { ...process.env, HYPHAE_JOIN_TOKENS: 'api=0123456789abcdef' } });
    assert.equal(fromEnv.code, 2);
    assert.match(fromEnv.stderr, /HYPHAE_JOIN_TOKENS #1: the secret for default\/api must be 32 to 512 characters/);
  });

  it('--insecure: plain HTTP, a loud warning, no tokens, mtlsMode null', async () => {
    const cp = await startControlPlane({ insecure: true });
    try {
      assert.match(cp.url, /^http:\/\//);
      assert.ok(
        cp.child.lines.some((l) => /WARNING insecure: plain HTTP, no CA, no tokens/.test(l)),
        cp.child.lines.join('\n'),
      );
      assert.equal((await call(cp.url, 'PUT', '/v1/resources', { apiVersion: 'hyphae.dev/v1', kind: 'Service', metadata: { name: 'x' } }, { token: null })).status, 200);
      const w = await Watcher.open(cp.url, ['x'], null);
      try {
        const snap = await w.waitForService('x');
        assert.equal((snap as ServiceSnapshot).mtlsMode, null);
        assert.ok(!w.events.some((e) => e.event === 'trust-bundle'));
      } finally {
        await w.close();
      }
      const tb = await call(cp.url, 'GET', '/v1/trust-bundle');
      assert.equal(tb.status, 404);
    } finally {
      await cp.stop();
    }
  });
});
