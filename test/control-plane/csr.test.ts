/** CSRs from the network, made with openssl and with our own createCsr: what is accepted, and a clear 400 for the rest. */
import assert from 'node:assert/strict';
import { readFile, rm } from 'node:fs/promises';
import { after, before, describe, it } from 'node:test';
import { parseCsr } from '../../src/control-plane/ca/csr.js';
import { HttpError } from '../../src/control-plane/http/http-error.js';
import { createCsr } from '../../src/tls/csr.js';
import { generateKeyPair } from '../../src/tls/keys.js';
import { makeTempDir } from '../helpers/control-plane.js';
import { Pki } from '../helpers/pki.js';

function refused(pem: string, message: RegExp): void {
  assert.throws(
    () => parseCsr(pem),
    (err) => err instanceof HttpError && err.status === 400 && err.code === 'HYPHAE_ERR_BAD_REQUEST' && message.test(err.message),
  );
}

describe('parseCsr', () => {
  let dir: string;
  let pki: Pki;
  before(async () => {
    dir = await makeTempDir('hyphae-csr-');
    pki = new Pki(dir);
  });
  after(() => rm(dir, { recursive: true, force: true }));

  it("reads the key, URI SANs and CN of a workload CSR (ours and openssl's)", async () => {
    const ours = parseCsr(createCsr(await generateKeyPair(), { trustDomain: 'td', namespace: 'shop', service: 'api' }));
    assert.deepEqual(ours.uris, ['spiffe://td/ns/shop/sa/api']);
    assert.equal(ours.commonName, 'api');
    assert.match(ours.publicKeyPem, /^-----BEGIN PUBLIC KEY-----/);
    const { csr } = await pki.keyAndCsr('ossl', 'web', ['URI:spiffe://td/ns/default/sa/web']);
    const theirs = parseCsr(await readFile(csr, 'utf8'));
    assert.deepEqual(theirs.uris, ['spiffe://td/ns/default/sa/web']);
    assert.equal(theirs.commonName, 'web');
  });

  it('refuses what it cannot or will not sign, saying why', async () => {
    const ec = await pki.keyAndCsr('ec', 'api', [], ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256']);
    refused(await readFile(ec.csr, 'utf8'), /not RSA.*2048/);
    const ed = await pki.keyAndCsr('ed', 'api', [], ['-newkey', 'ed25519']);
    refused(await readFile(ed.csr, 'utf8'), /not RSA|cannot be parsed/);
    const small = await pki.keyAndCsr('small', 'api', [], ['-newkey', 'rsa:1024']);
    refused(await readFile(small.csr, 'utf8'), /1024 bits; 2048 to 8192/);
    const dns = await pki.keyAndCsr('dns', 'api', ['DNS:api.example.com', 'URI:spiffe://td/ns/default/sa/api']);
    refused(await readFile(dns.csr, 'utf8'), /asks for DNS names/);
    refused('', /one PEM "CERTIFICATE REQUEST" block/);
    refused('-----BEGIN CERTIFICATE REQUEST-----\nAAAA\n-----END CERTIFICATE REQUEST-----\n', /cannot be parsed/);
    refused('-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n', /one PEM "CERTIFICATE REQUEST" block/);
    refused(`-----BEGIN CERTIFICATE REQUEST-----\n${'QUFB'.repeat(3000)}\n-----END CERTIFICATE REQUEST-----\n`, /cannot be parsed/);

    // A valid CSR whose signature bytes were changed: the key did not sign it.
    const good = createCsr(await generateKeyPair(), { trustDomain: 'td', namespace: 'default', service: 'api' });
    const body = good
      .split('\n')
      .filter((l) => l && !l.startsWith('-----'))
      .join('');
    const der = Buffer.from(body, 'base64');
    der[der.length - 5] = der[der.length - 5]! ^ 0xff;
    const tampered = `-----BEGIN CERTIFICATE REQUEST-----\n${der
      .toString('base64')
      .match(/.{1,64}/g)!
      .join('\n')}\n-----END CERTIFICATE REQUEST-----\n`;
    refused(tampered, /signature does not verify/);
  });
});
