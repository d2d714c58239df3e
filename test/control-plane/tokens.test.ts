/** Join and admin tokens in process: digests only on disk, constant-time checks, expiry, revocation, configured tokens. */
import assert from 'node:assert/strict';
import { readFile, rm, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { loadAdminToken } from '../../src/control-plane/auth/admin-token.js';
import { loadConfiguredTokens, parseTokenSpec } from '../../src/control-plane/auth/configured-tokens.js';
import { FileTokenStore } from '../../src/control-plane/auth/token-store.js';
import { Tokens } from '../../src/control-plane/auth/tokens.js';
import { HttpError } from '../../src/control-plane/http/http-error.js';
import { isMeshError } from '../../src/core/errors.js';
import { makeTempDir } from '../helpers/control-plane.js';

function status(fn: () => unknown): number | undefined {
  try {
    fn();
    return undefined;
  } catch (err) {
    return err instanceof HttpError ? err.status : -1;
  }
}

describe('tokens', () => {
  let dir: string;
  before(async () => {
    dir = await makeTempDir('hyphae-tokens-');
  });
  after(() => rm(dir, { recursive: true, force: true }));

  it("makes an admin token once, 0600, and reads it back; or reads the operator's file", async () => {
    const first = await loadAdminToken(dir);
    assert.equal(first.created, true);
    assert.match(first.token, /^hyphae-admin\.[A-Za-z0-9_-]{43}$/);
    assert.equal((await stat(first.file)).mode & 0o777, 0o600);
    const second = await loadAdminToken(dir);
    assert.deepEqual({ ...second, created: true }, first);
    await assert.rejects(loadAdminToken(dir, path.join(dir, 'missing')), (err) => isMeshError(err, 'HYPHAE_ERR_INVALID_OPTIONS') && /--admin-token-file/.test(err.message));
  });

  it('creates join tokens bound to a service, stores only digests, revokes them; the admin token is admin', async () => {
    const store = new FileTokenStore(dir);
    const tokens = await Tokens.open({ store, admin: 'admin-secret-0123456789', configured: [] });
    const t = await tokens.create('api', 'shop');
    assert.match(t.token, /^jt_[0-9a-f]{16}\.[A-Za-z0-9_-]{43}$/);
    assert.deepEqual(tokens.authenticate(`Bearer ${t.token}`), { kind: 'join', tokenId: t.id, service: 'api', namespace: 'shop' });
    assert.deepEqual(tokens.authenticate('bearer admin-secret-0123456789'), { kind: 'admin' });
    const file = await readFile(store.file, 'utf8');
    assert.ok(!file.includes(t.token.split('.')[1]!), 'the secret is not on disk');
    assert.equal((await stat(store.file)).mode & 0o777, 0o600);

    // Everything else is 401: no header, another scheme, a wrong secret for a real id, a guess, an oversized value.
    const secret = t.token.split('.')[1]!;
    const wrong = `${t.id}.${secret.slice(0, -1)}${secret.endsWith('A') ? 'B' : 'A'}`;
    for (const h of [undefined, '', 'Basic abc', `Bearer ${wrong}`, 'Bearer jt_0000000000000000.' + 'a'.repeat(43), 'Bearer admin', `Bearer ${'x'.repeat(600)}`]) {
      assert.equal(
        status(() => tokens.authenticate(h)),
        401,
        String(h).slice(0, 40),
      );
    }
    // A restart knows the token; revocation is durable too.
    const reopened = await Tokens.open({ store, admin: 'admin-secret-0123456789', configured: [] });
    assert.equal(reopened.authenticate(`Bearer ${t.token}`).kind, 'join');
    await reopened.revoke(t.id);
    assert.equal(
      status(() => reopened.authenticate(`Bearer ${t.token}`)),
      401,
    );
    const again = await Tokens.open({ store, admin: 'admin-secret-0123456789', configured: [] });
    assert.equal(
      status(() => again.authenticate(`Bearer ${t.token}`)),
      401,
    );
    await assert.rejects(again.revoke(t.id), (err) => err instanceof HttpError && err.status === 404);
  });

  it('expires tokens with a TTL', async () => {
    const tokens = await Tokens.open({ store: new FileTokenStore(dir), admin: 'admin-secret-0123456789', configured: [] });
    const t = await tokens.create('api', 'default', 1);
    assert.equal(tokens.authenticate(`Bearer ${t.token}`).kind, 'join');
    await new Promise((r) => setTimeout(r, 1_100));
    assert.throws(() => tokens.authenticate(`Bearer ${t.token}`), /has expired/);
  });

  it('accepts configured tokens ([ns/]service=secret in memory, a file of them, files of one secret), lists them without secrets, and will not revoke them over the API', async () => {
    const file = path.join(dir, 'join-tokens');
    await writeFile(file, '# pre-provisioned\nweb=web-secret-0123456789abcdef0123456789\n\nshop/cart=cart-secret-0123456789abcdef012345  # the cart\n', { mode: 0o600 });
    const single = path.join(dir, 'billing-token');
    await writeFile(single, 'billing-secret-0123456789abcdef0123\n', { mode: 0o600 });
    const { tokens: configured, warnings } = await loadConfiguredTokens({ specs: ['api=api-secret-0123456789abcdef0123456789'], file, secretFiles: [`shop/billing=${single}`] });
    assert.deepEqual(warnings, []);
    assert.deepEqual(
      configured.map((c) => `${c.namespace}/${c.service}`),
      ['default/api', 'shop/billing', 'default/web', 'shop/cart'],
    );
    const tokens = await Tokens.open({ store: new FileTokenStore(dir), admin: 'admin-secret-0123456789', configured });
    const p = tokens.authenticate('Bearer cart-secret-0123456789abcdef012345');
    assert.ok(p.kind === 'join' && p.service === 'cart' && p.namespace === 'shop');
    const b = tokens.authenticate('Bearer billing-secret-0123456789abcdef0123');
    assert.ok(b.kind === 'join' && b.service === 'billing' && b.namespace === 'shop', 'the file holds the secret alone; its newline is not part of it');
    const rows = tokens.list().filter((r) => r.source === 'config');
    assert.equal(rows.length, 4);
    assert.ok(!JSON.stringify(rows).includes('secret-0123456789'));
    await assert.rejects(tokens.revoke(rows[0]!.id), /configuration/);
    for (const bad of ['api', '=x', 'Bad_Name=0123456789abcdef0123456789abcdef', 'api=short', `api=${'x'.repeat(31)}`]) {
      assert.throws(
        () => parseTokenSpec(bad, '--join-token'),
        (err) => isMeshError(err, 'HYPHAE_ERR_INVALID_OPTIONS') && err.message.startsWith('--join-token: '),
      );
    }
    assert.throws(() => parseTokenSpec(`api=${'x'.repeat(20)}`, 'HYPHAE_JOIN_TOKENS #1'), /must be 32 to 512 characters without spaces \(it has 20\)/);
  });

  it('an insecure control plane has no tokens: every caller is admin', async () => {
    const tokens = await Tokens.open({ store: new FileTokenStore(dir), admin: undefined, configured: [] });
    assert.deepEqual(tokens.authenticate(undefined), { kind: 'admin' });
  });
});
