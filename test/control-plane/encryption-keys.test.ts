/** The CA encryption keys in process: formats, which key encrypts, and what a ciphertext is bound to. */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { chmod, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { EncryptionKeys, keyId } from '../../src/control-plane/ca/encryption-keys.js';
import { isMeshError } from '../../src/core/errors.js';
import { makeTempDir } from '../helpers/control-plane.js';

const PEM = '-----BEGIN PRIVATE KEY-----\nMIIEvQ...not a real key...\n-----END PRIVATE KEY-----\n';
const binding = { trustDomain: 'hyphae.local', name: 'ca/authorities/0123456789abcdef' };

describe('CA encryption keys', () => {
  let dir: string;
  before(async () => {
    dir = await makeTempDir('hyphae-keys-');
  });
  after(() => rm(dir, { recursive: true, force: true }));

  it('reads base64 and hex keys, one per line or comma-separated, with comments; the first encrypts', () => {
    const a = randomBytes(32);
    const b = randomBytes(32);
    const keys = EncryptionKeys.parse(`# new key first\n${a.toString('base64')}\n\n${b.toString('hex')}  # old\n`, 'test');
    assert.deepEqual(keys.ids, [keyId(a), keyId(b)]);
    assert.equal(keys.primary.id, keyId(a));
    assert.deepEqual(EncryptionKeys.parse(`${a.toString('base64url')},${b.toString('base64')}`, 'env').ids, keys.ids);
    assert.match(keyId(a), /^[0-9a-f]{16}$/);
    for (const bad of ['', '# only a comment', 'c2hvcnQ=', randomBytes(31).toString('hex'), `${a.toString('hex')}\n${a.toString('base64')}`, 'not base64 !!']) {
      assert.throws(
        () => EncryptionKeys.parse(bad, 'test'),
        (err) => isMeshError(err, 'HYPHAE_ERR_INVALID_OPTIONS') && err.message.startsWith('test: '),
        JSON.stringify(bad),
      );
    }
  });

  it('AES-256-GCM: the ciphertext holds no plaintext, opens with the right key and binding only', () => {
    const keys = EncryptionKeys.parse(randomBytes(32).toString('base64'), 'test');
    const sealed = keys.seal(PEM, binding);
    assert.equal(sealed.alg, 'AES-256-GCM');
    assert.equal(sealed.keyId, keys.primary.id);
    assert.ok(!Buffer.from(sealed.data, 'base64').includes('PRIVATE KEY'));
    assert.notEqual(keys.seal(PEM, binding).iv, sealed.iv, 'a fresh IV per encryption');
    assert.equal(keys.open(sealed, binding, 'it'), PEM);
    // Moved to another key name, or into another trust domain: refused.
    assert.throws(() => keys.open(sealed, { ...binding, name: 'ca/authorities/fedcba9876543210' }, 'it'), /does not authenticate/);
    assert.throws(() => keys.open(sealed, { ...binding, trustDomain: 'other.example' }, 'it'), /does not authenticate/);
    // Altered: refused.
    const data = Buffer.from(sealed.data, 'base64');
    data[10] = data[10]! ^ 1;
    assert.throws(() => keys.open({ ...sealed, data: data.toString('base64') }, binding, 'it'), /does not authenticate/);
    // Another key: says which key id it needed and which ones it has.
    const other = EncryptionKeys.parse(randomBytes(32).toString('base64'), '--ca-encryption-key-file k');
    assert.throws(
      () => other.open(sealed, binding, 'CA authority x'),
      (err) =>
        isMeshError(err, 'HYPHAE_ERR_INVALID_OPTIONS') &&
        err.message.includes(`it is encrypted with CA encryption key id ${keys.primary.id}, and --ca-encryption-key-file k holds key id ${other.primary.id}`),
    );
    // Rotation: [new, old] opens the old ciphertext, and calls it stale.
    const rotated = EncryptionKeys.parse(`${randomBytes(32).toString('base64')}\n${Buffer.from(keys.primary.key).toString('base64')}`, 'test');
    assert.equal(rotated.open(sealed, binding, 'it'), PEM);
    assert.equal(rotated.isStale(sealed), true);
    assert.equal(rotated.isStale(rotated.seal(PEM, binding)), false);
  });

  it('loads a file, and warns when others can read it', async () => {
    const file = path.join(dir, 'key');
    await writeFile(file, `${randomBytes(32).toString('base64')}\n`, { mode: 0o600 });
    assert.equal((await EncryptionKeys.load({ file })).warning, undefined);
    await chmod(file, 0o644);
    assert.match((await EncryptionKeys.load({ file })).warning!, /can be read by other users \(mode 644\).*chmod 600/);
    await assert.rejects(EncryptionKeys.load({ file: path.join(dir, 'missing') }), /cannot read --ca-encryption-key-file .*ENOENT/);
    assert.equal((await EncryptionKeys.load({ inline: randomBytes(32).toString('hex') })).keys.source, 'HYPHAE_CA_ENCRYPTION_KEY');
  });
});
