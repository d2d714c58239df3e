/**
 * Issue 13, defect 13: the leaf never carries a name the CA did not decide.
 * CSRs built with node-forge (as an attacker would, with whatever subject and
 * SANs it likes) are sent to a real control-plane process with the admin token
 * and with a join token; each is refused, or its certificate (read with
 * node:crypto's X509Certificate) carries no subject but the control plane's
 * cluster (OU, issue 17), and exactly the
 * SPIFFE ID the token is allowed: the CN is never an identity, only checked.
 */
import assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import forge from 'node-forge';
import type { ApiErrorBody, CertificateResponse } from '../../src/config/wire.js';
import { generateKeyPair, type KeyPair } from '../../src/tls/keys.js';
import { call, startControlPlane, type RunningControlPlane } from '../helpers/control-plane.js';

const TD = 'hyphae.local';

/** A PKCS#10 CSR with exactly the subject and URI SANs given, signed by `keys` (forge's own RSA). */
function forgeCsr(keys: KeyPair, subject: { name: string; value: string }[], uris: string[] = []): string {
  const csr = forge.pki.createCertificationRequest();
  csr.publicKey = forge.pki.publicKeyFromPem(keys.publicKey.export({ type: 'spki', format: 'pem' }) as string);
  csr.setSubject(subject);
  if (uris.length > 0) csr.setAttributes([{ name: 'extensionRequest', extensions: [{ name: 'subjectAltName', altNames: uris.map((value) => ({ type: 6, value })) }] }]);
  csr.sign(forge.pki.privateKeyFromPem(keys.privateKey.export({ type: 'pkcs1', format: 'pem' }) as string), forge.md.sha256.create());
  return forge.pki.certificationRequestToPem(csr);
}

const cn = (value: string) => [{ name: 'commonName', value }];

describe('certificate subjects', () => {
  let cp: RunningControlPlane;
  let apiToken: string;
  let keys: KeyPair;
  before(async () => {
    cp = await startControlPlane();
    apiToken = await cp.joinToken('api');
    keys = await generateKeyPair();
  });
  after(() => cp?.stop());

  /** POST /v1/certificates; `token` undefined = the admin token. */
  const ask = (csr: string, token?: string) => call<CertificateResponse & ApiErrorBody>(cp.url, 'POST', '/v1/certificates', { csr }, { token });

  /** What a 200 carried, for the failure message when a refusal was expected. */
  function issued(res: { status: number; body: CertificateResponse & ApiErrorBody }): string {
    if (res.status !== 200) return `${res.status} ${res.body.error?.code}: ${res.body.error?.message}`;
    const x = new X509Certificate(res.body.certificate);
    return `200, issued subject="${x.subject}" san="${x.subjectAltName}"`;
  }

  it('admin token, CN spiffe://…/sa/../../etc and no URI SAN: refused, nothing signed', async () => {
    const res = await ask(forgeCsr(keys, cn(`spiffe://${TD}/ns/default/sa/../../etc`)));
    assert.equal(res.status, 400, issued(res));
    assert.equal(res.body.error.code, 'HYPHAE_ERR_BAD_REQUEST');
    assert.match(res.body.error.message, /subject CN .* is not a valid SPIFFE ID \(dot segments are not allowed\)/);
    assert.ok(!cp.child.lines.some((l) => /certificate default\/spiffe/.test(l)), 'the CA signed nothing for it');
  });

  it('admin token, a CN-only CSR naming a plain service: refused, the CN is never an identity', async () => {
    const res = await ask(forgeCsr(keys, cn('web')));
    assert.equal(res.status, 400, issued(res));
    assert.match(res.body.error.message, /names no identity; put the SPIFFE ID .* in a URI SAN/);
  });

  it('join token, CN in a foreign trust domain: refused', async () => {
    const res = await ask(forgeCsr(keys, cn('spiffe://evil.example/ns/default/sa/api')), apiToken);
    assert.equal(res.status, 403, issued(res));
    assert.equal(res.body.error.code, 'HYPHAE_ERR_FORBIDDEN');
    assert.match(res.body.error.message, /subject CN "spiffe:\/\/evil\.example\/ns\/default\/sa\/api" is not the identity this CA issues for it \(spiffe:\/\/hyphae\.local\/ns\/default\/sa\/api\)/);
  });

  it("join token, a URI SAN for another identity than the token's: refused, whatever the CN", async () => {
    for (const subject of [cn('api'), cn(`spiffe://${TD}/ns/default/sa/api`), []]) {
      const res = await ask(forgeCsr(keys, subject, [`spiffe://${TD}/ns/default/sa/web`]), apiToken);
      assert.equal(res.status, 403, issued(res));
      assert.match(res.body.error.message, /is for default\/api; it may not obtain the identity of default\/web/);
    }
  });

  it('a URI SAN with a dot segment, or a CN that disagrees with the URI SAN: refused', async () => {
    const dots = await ask(forgeCsr(keys, [], [`spiffe://${TD}/ns/default/sa/../../etc`]));
    assert.equal(dots.status, 400, issued(dots));
    assert.match(dots.body.error.message, /is not a workload SPIFFE ID .*: dot segments are not allowed/);
    const disagree = await ask(forgeCsr(keys, cn('web'), [`spiffe://${TD}/ns/default/sa/api`]));
    assert.equal(disagree.status, 403, issued(disagree));
  });

  it("what is signed carries no subject but the CA's own cluster and the one SPIFFE ID the CA decided, whatever else the CSR asked for", async () => {
    const attacker = [
      { name: 'commonName', value: `spiffe://${TD}/ns/shop/sa/api` },
      { name: 'organizationName', value: 'Evil Corp' },
      { name: 'organizationalUnitName', value: 'control plane' },
      { name: 'emailAddress', value: 'root@evil.example' },
    ];
    const cases: [string, string, string | undefined][] = [
      ['admin, URI SAN + matching CN + O/OU/email', forgeCsr(keys, attacker, [`spiffe://${TD}/ns/shop/sa/api`]), undefined],
      ['join, own URI SAN + CN = service', forgeCsr(keys, [...cn('api'), { name: 'organizationName', value: 'Evil Corp' }], [`spiffe://${TD}/ns/default/sa/api`]), apiToken],
      ["join, CN = service only (the identity is the token's)", forgeCsr(keys, cn('api')), apiToken],
      ['join, empty subject, no SAN', forgeCsr(keys, []), apiToken],
    ];
    for (const [what, csr, token] of cases) {
      const res = await ask(csr, token);
      assert.equal(res.status, 200, `${what}: ${res.text}`);
      const cert = new X509Certificate(res.body.certificate);
      const want = token === undefined ? `spiffe://${TD}/ns/shop/sa/api` : `spiffe://${TD}/ns/default/sa/api`;
      // The CSR's OU ("control plane") is not copied: the only OU is the control plane's cluster (its default name here).
      assert.equal(cert.subject, 'OU=default', `${what}: the subject`);
      assert.equal(cert.subjectAltName, `URI:${want}`, what);
      assert.equal(res.body.spiffeId, want, what);
      assert.equal(cert.ca, false);
    }
  });
});
