/** The workload-certificate rules, on certificates made with openssl, and the subjectAltName reader. */
import assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import { readFile, rm } from 'node:fs/promises';
import { after, before, describe, it } from 'node:test';
import { checkPeerCertificate, uriSans } from '../../src/tls/peer-certificate.js';
import { makeTempDir } from '../helpers/control-plane.js';
import { Pki } from '../helpers/pki.js';

const ID = 'spiffe://td/ns/default/sa/api';

describe('uriSans', () => {
  it('reads URI entries as Node renders them, quoted values included', () => {
    assert.deepEqual(uriSans(`URI:${ID}`), [ID]);
    assert.deepEqual(uriSans(`DNS:a.example, URI:${ID}, IP Address:127.0.0.1`), [ID]);
    assert.deepEqual(uriSans(`URI:${ID}, URI:spiffe://td/ns/default/sa/web`), [ID, 'spiffe://td/ns/default/sa/web']);
    assert.deepEqual(uriSans('URI:"spiffe://td/ns/a, URI:spiffe://td/ns/b"'), ['spiffe://td/ns/a, URI:spiffe://td/ns/b'], 'a comma inside a quoted value is not a separator');
    assert.deepEqual(uriSans(undefined), []);
    assert.equal(uriSans('URI:"unterminated'), undefined);
    assert.equal(uriSans('garbage'), undefined);
  });
});

describe('checkPeerCertificate', () => {
  let dir: string;
  let pki: Pki;
  let ca: { cert: string; key: string };
  const cert = async (name: string, ext: Parameters<Pki['sign']>[2], san = [`URI:${ID}`]) => {
    const { csr } = await pki.keyAndCsr(name, name, []);
    return new X509Certificate(await readFile(await pki.sign(csr, ca, { san, ...ext }, `${name}.pem`)));
  };
  before(async () => {
    dir = await makeTempDir('hyphae-peer-');
    pki = new Pki(dir);
    ca = await pki.selfSignedCa('ca');
  });
  after(() => rm(dir, { recursive: true, force: true }));

  it('accepts a workload certificate in the role its EKU allows, and returns the identity', async () => {
    const both = await cert('both', { eku: 'serverAuth,clientAuth' });
    for (const role of ['client', 'server'] as const) {
      const c = checkPeerCertificate(both, role, 'td');
      assert.ok(c.ok, JSON.stringify(c));
      assert.deepEqual({ id: c.identity.id, ns: c.identity.namespace, svc: c.identity.service }, { id: ID, ns: 'default', svc: 'api' });
    }
  });

  it('refuses, each with a reason: CA, wrong EKU, no EKU, two URI SANs, none, not a workload ID, expired', async () => {
    const cases: [string, X509Certificate, 'client' | 'server', RegExp][] = [
      ['CA as leaf', await cert('ca-leaf', { ca: true, eku: 'clientAuth' }), 'client', /CA certificate/],
      ['serverAuth only as client', await cert('server-only', { eku: 'serverAuth' }), 'client', /does not allow clientAuth/],
      ['clientAuth only as server', await cert('client-only', { eku: 'clientAuth' }), 'server', /does not allow serverAuth/],
      ['no EKU', await cert('no-eku', {}), 'client', /does not allow clientAuth/],
      ['two URI SANs', await cert('two', { eku: 'clientAuth' }, [`URI:${ID}`, 'URI:spiffe://td/ns/default/sa/web']), 'client', /2 URI SANs/],
      ['no URI SAN', await cert('none', { eku: 'clientAuth' }, ['DNS:api.example']), 'client', /0 URI SANs/],
      ['not a workload ID', await cert('other-path', { eku: 'clientAuth' }, ['URI:spiffe://td/web']), 'client', /not a workload SPIFFE ID/],
      ['upper-case trust domain', await cert('upper', { eku: 'clientAuth' }, ['URI:spiffe://TD/ns/default/sa/api']), 'client', /not a workload SPIFFE ID/],
      ['another trust domain', await cert('foreign-td', { eku: 'clientAuth' }, ['URI:spiffe://other.example/ns/default/sa/api']), 'client', /not in this mesh's trust domain td/],
    ];
    for (const [name, c, role, why] of cases) {
      const r = checkPeerCertificate(c, role, 'td');
      assert.ok(!r.ok && why.test(r.problem), `${name}: ${JSON.stringify(r)}`);
    }
    const valid = await cert('later', { eku: 'clientAuth' });
    const r = checkPeerCertificate(valid, 'client', 'td', Date.parse(valid.validTo) + 1_000);
    assert.ok(!r.ok && /not valid now/.test(r.problem));
  });
});
