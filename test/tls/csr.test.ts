/**
 * The workload's CSR, built without node-forge: read by the real `openssl req`
 * (a foreign parser) and by the CA's own parser (control-plane/ca/csr.ts, on
 * node-forge), for names whose encodings need each DER length form; a changed
 * byte under the signature is refused by both.
 */
import assert from 'node:assert/strict';
import { createPublicKey, generateKeyPairSync } from 'node:crypto';
import { before, describe, it } from 'node:test';
import { parseCsr } from '../../src/control-plane/ca/csr.js';
import { createCsr, type CsrIdentity } from '../../src/tls/csr.js';
import { generateKeyPair, type KeyPair } from '../../src/tls/keys.js';
import { workloadId } from '../../src/tls/spiffe.js';
import { run } from '../helpers/pki.js';

const ids: { why: string; id: CsrIdentity }[] = [
  { why: 'short names (every length of the SAN below 128)', id: { trustDomain: 'td', namespace: 'default', service: 'api' } },
  { why: 'a SAN of 128-255 bytes', id: { trustDomain: `${'a'.repeat(60)}.example`, namespace: 'n'.repeat(40), service: 's'.repeat(63) } },
  { why: 'a SAN over 255 bytes', id: { trustDomain: `${'b'.repeat(200)}.example`, namespace: 'n'.repeat(63), service: 's'.repeat(63) } },
];

function unPem(text: string): Buffer {
  return Buffer.from(text.replace(/-----[A-Z ]+-----/g, '').replace(/\s+/g, ''), 'base64');
}

function rePem(der: Buffer): string {
  return `-----BEGIN CERTIFICATE REQUEST-----\n${der.toString('base64').replace(/.{64}/g, '$&\n')}\n-----END CERTIFICATE REQUEST-----\n`;
}

describe('createCsr', () => {
  let keys: KeyPair;
  before(async () => {
    keys = await generateKeyPair();
  });

  for (const { why, id } of ids) {
    it(`is a PKCS#10 request openssl and the CA read alike: ${why}`, async () => {
      const csr = createCsr(keys, id);
      const spiffe = workloadId(id.trustDomain, id.namespace, id.service);

      const o = await run('openssl', ['req', '-verify', '-noout', '-text'], { input: csr });
      assert.equal(o.code, 0, o.stderr);
      assert.match(`${o.stdout}${o.stderr}`, /verify OK/);
      assert.match(o.stdout, new RegExp(`Subject: CN *= *${id.service}\\n`));
      assert.ok(o.stdout.includes(`URI:${spiffe}\n`), o.stdout);
      assert.match(o.stdout, /Signature Algorithm: sha256WithRSAEncryption/);
      assert.match(o.stdout, /Public-Key: \(2048 bit\)/);

      const parsed = parseCsr(csr);
      assert.deepEqual(parsed.uris, [spiffe]);
      assert.equal(parsed.commonName, id.service);
      assert.deepEqual(createPublicKey(parsed.publicKeyPem).export({ type: 'spki', format: 'der' }), keys.publicKey.export({ type: 'spki', format: 'der' }));
    });
  }

  it('is refused by both when a byte of what it signs changes', async () => {
    const der = unPem(createCsr(keys, ids[0]!.id));
    // A letter of the last "api" (the SAN's service), inside the signed CertificationRequestInfo.
    const at = der.lastIndexOf(Buffer.from('api'));
    assert.ok(at > 0);
    const tampered = Buffer.from(der);
    tampered[at + 2] = 'j'.charCodeAt(0);
    // OpenSSL 3.0 exits 0 either way: its verdict is the line it prints.
    const o = await run('openssl', ['req', '-verify', '-noout'], { input: rePem(tampered) });
    assert.match(`${o.stdout}${o.stderr}`, /verify failure/, 'openssl refuses the signature');
    assert.doesNotMatch(`${o.stdout}${o.stderr}`, /verify OK/);
    assert.throws(() => parseCsr(rePem(tampered)), /signature does not verify/);
    // The same bytes, untouched, pass: the check above fails for the change, not for the re-encoding.
    assert.equal(parseCsr(rePem(der)).commonName, 'api');
  });

  it('refuses a key the CA would not sign', () => {
    const ec = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    assert.throws(() => createCsr(ec, ids[0]!.id), /needs an RSA key, not ec/);
  });
});
