/**
 * The CA in process: the root it makes, the X.509-SVIDs it issues (checked
 * with Node's X509Certificate and with `openssl verify`), its state file,
 * the operator's CA (an intermediate made with openssl), and root rotation.
 */
import assert from 'node:assert/strict';
import { X509Certificate, generateKeyPairSync } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { readFile, rm, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { isMeshError } from '../../src/core/errors.js';
import { suppliedAuthority } from '../../src/control-plane/ca/authority.js';
import { FileCaStateStore } from '../../src/control-plane/ca/ca-state.js';
import { CertificateAuthority } from '../../src/control-plane/ca/certificate-authority.js';
import { BACKDATE_MS } from '../../src/control-plane/ca/issue.js';
import { checkPeerCertificate } from '../../src/tls/peer-certificate.js';
import { makeTempDir } from '../helpers/control-plane.js';
import { Pki, run } from '../helpers/pki.js';

const TTL_MS = 60_000;

function publicKeyPem(): string {
  return generateKeyPairSync('rsa', { modulusLength: 2048 }).publicKey.export({ type: 'spki', format: 'pem' }) as string;
}

async function openCa(dir: string, extra: Partial<Parameters<typeof CertificateAuthority.open>[0]> = {}): Promise<CertificateAuthority> {
  return CertificateAuthority.open({ store: new FileCaStateStore(dir), trustDomain: 'td.test', certTtlMs: TTL_MS, bundleFile: path.join(dir, 'ca-bundle.pem'), log: () => {}, ...extra });
}

describe('certificate authority', () => {
  const dirs: string[] = [];
  const tmp = async () => {
    const d = await makeTempDir('hyphae-ca-');
    dirs.push(d);
    return d;
  };
  after(async () => Promise.all(dirs.map((d) => rm(d, { recursive: true, force: true }))));

  let dir: string;
  let ca: CertificateAuthority;
  before(async () => {
    dir = await tmp();
    ca = await openCa(dir);
  });

  it('makes a 10-year self-signed root on first start, keeps it in a 0600 state file, writes the bundle', async () => {
    const root = new X509Certificate(ca.bundle.roots[0]!);
    assert.equal(root.ca, true);
    assert.ok(root.verify(root.publicKey), 'self-signed');
    const years = (Date.parse(root.validTo) - Date.parse(root.validFrom)) / (365 * 24 * 3600 * 1000);
    assert.ok(years > 9.99 && years < 10.01, `${years} years`);
    assert.equal((await stat(path.join(dir, 'ca.json'))).mode & 0o777, 0o600);
    assert.equal(await readFile(path.join(dir, 'ca-bundle.pem'), 'utf8'), ca.bundle.roots.join(''));
    const again = await openCa(dir);
    assert.deepEqual(again.bundle, ca.bundle, 'the second start loads the same CA');
    console.log(`root ${root.subject.replace(/\n/g, ', ')}, valid until ${root.validTo}`);
  });

  it('issues X.509-SVIDs: one URI SAN, not a CA, digitalSignature, serverAuth+clientAuth, TTL, random serial, backdated', async () => {
    const t0 = Date.now();
    const a = ca.signWorkload(publicKeyPem(), 'shop', 'api');
    // Signing (and making a key) can take seconds on a busy machine: the dates are bounded by before and after.
    const t1 = Date.now();
    const b = ca.signWorkload(publicKeyPem(), 'shop', 'api');
    const x = new X509Certificate(a.certificate);
    assert.equal(a.spiffeId, 'spiffe://td.test/ns/shop/sa/api');
    assert.equal(x.subjectAltName, 'URI:spiffe://td.test/ns/shop/sa/api');
    assert.equal(x.ca, false);
    assert.deepEqual([...(x.keyUsage ?? [])].sort(), ['1.3.6.1.5.5.7.3.1', '1.3.6.1.5.5.7.3.2']);
    assert.ok(x.checkIssued(new X509Certificate(ca.bundle.roots[0]!)));
    assert.ok(x.verify(new X509Certificate(ca.bundle.roots[0]!).publicKey));
    assert.notEqual(x.serialNumber, new X509Certificate(b.certificate).serialNumber);
    assert.ok(x.serialNumber.length >= 30, `128-bit serial, got ${x.serialNumber}`);
    const from = Date.parse(x.validFrom);
    const to = Date.parse(x.validTo);
    assert.ok(from >= t0 - BACKDATE_MS - 1_000 && from <= t1 - BACKDATE_MS + 1_000, 'notBefore is backdated');
    assert.ok(to >= t0 + TTL_MS && to <= t1 + TTL_MS + 1_000, 'notAfter is now + TTL (whole seconds, rounded up)');
    const check = checkPeerCertificate(x, 'client', 'td.test');
    assert.ok(check.ok && check.identity.service === 'api' && check.identity.namespace === 'shop');

    // And OpenSSL agrees: a chain to the root, usable as a client and as a server (purpose checks).
    const work = await tmp();
    await writeFile(path.join(work, 'root.pem'), ca.bundle.roots[0]!);
    await writeFile(path.join(work, 'leaf.pem'), a.certificate);
    for (const purpose of ['sslclient', 'sslserver']) {
      const v = await run('openssl', ['verify', '-CAfile', 'root.pem', '-purpose', purpose, 'leaf.pem'], { cwd: work });
      assert.equal(v.code, 0, `${purpose}: ${v.stdout}${v.stderr}`);
    }
    const text = (await run('openssl', ['x509', '-in', 'leaf.pem', '-noout', '-text'], { cwd: work })).stdout;
    assert.match(text, /Key Usage: critical\s+Digital Signature, Key Encipherment/);
    assert.match(text, /Basic Constraints: critical\s+CA:FALSE/);
  });

  it("stamps its cluster as the subject's one OU; the peer reads it back; OpenSSL still verifies the leaf for both purposes", async () => {
    const work = await tmp();
    const dc1 = await openCa(work, { cluster: 'dc1' });
    const leaf = dc1.signWorkload(publicKeyPem(), 'shop', 'web');
    const x = new X509Certificate(leaf.certificate);
    assert.equal(x.subject, 'OU=dc1');
    assert.equal(x.subjectAltName, 'URI:spiffe://td.test/ns/shop/sa/web', 'still exactly one SAN, the URI');
    const check = checkPeerCertificate(x, 'client', 'td.test');
    assert.ok(check.ok, check.ok ? '' : check.problem);
    assert.equal(check.identity.cluster, 'dc1');
    await writeFile(path.join(work, 'root.pem'), dc1.bundle.roots[0]!);
    await writeFile(path.join(work, 'leaf.pem'), leaf.certificate);
    for (const purpose of ['sslclient', 'sslserver']) {
      const v = await run('openssl', ['verify', '-CAfile', 'root.pem', '-purpose', purpose, 'leaf.pem'], { cwd: work });
      assert.equal(v.code, 0, `${purpose}: ${v.stdout}${v.stderr}`);
    }
    // The CA of before clusters (no cluster option): an empty subject, and no cluster for the peer.
    const old = checkPeerCertificate(new X509Certificate(ca.signWorkload(publicKeyPem(), 'shop', 'web').certificate), 'client', 'td.test');
    assert.ok(old.ok);
    assert.equal(old.identity.cluster, undefined);
    assert.equal('cluster' in old.identity, false);
  });

  it('refuses another trust domain, and an operator CA that is not the stored one, naming the way out', async () => {
    await assert.rejects(openCa(dir, { trustDomain: 'other.test' }), (err) => isMeshError(err, 'HYPHAE_ERR_INVALID_OPTIONS') && /--trust-domain td\.test/.test(err.message));
  });

  it("adopts the operator's intermediate (chain up to the root), puts the root in the bundle and the intermediate in each leaf's chain", async () => {
    const work = await tmp();
    const pki = new Pki(work);
    const root = await pki.selfSignedCa('op-root');
    const inter = await pki.keyAndCsr('op-inter', 'op-intermediate');
    const interCert = await pki.sign(inter.csr, root, { ca: true }, 'op-inter.pem', 30);
    const chainPem = (await readFile(interCert, 'utf8')) + (await readFile(root.cert, 'utf8'));
    const keyPem = await readFile(inter.key, 'utf8');
    const record = suppliedAuthority(chainPem, keyPem);
    const opDir = await tmp();
    const opCa = await openCa(opDir, { supplied: record });
    assert.equal(opCa.bundle.roots.length, 1);
    assert.equal(opCa.bundle.roots[0]!.trim(), (await readFile(root.cert, 'utf8')).trim(), 'the bundle holds the root, not the intermediate');
    const leaf = opCa.signWorkload(publicKeyPem(), 'default', 'api');
    assert.equal(leaf.chain.length, 1);
    await writeFile(path.join(work, 'leaf.pem'), leaf.certificate);
    await writeFile(path.join(work, 'chain.pem'), leaf.chain.join(''));
    const v = await run('openssl', ['verify', '-CAfile', root.cert, '-untrusted', 'chain.pem', 'leaf.pem'], { cwd: work });
    assert.equal(v.code, 0, v.stdout + v.stderr);

    // The operator's CA is checked: a leaf is not a CA, a key must match, the chain must reach a root.
    const leafCert = await pki.sign((await pki.keyAndCsr('not-ca', 'x')).csr, root, {}, 'not-ca.pem');
    assert.throws(() => suppliedAuthority(readFileSync(leafCert, 'utf8'), keyPem), /not a CA certificate/);
    assert.throws(() => suppliedAuthority(chainPem, readFileSync(root.key, 'utf8')), /key does not belong/);
    assert.throws(() => suppliedAuthority(readFileSync(interCert, 'utf8'), keyPem), /self-signed root/);
    assert.throws(() => suppliedAuthority('nothing', keyPem), /no PEM certificate/);
    // Once a data directory has a CA, another one on the command line is refused (rotate to it instead).
    await assert.rejects(openCa(dir, { supplied: record }), /hyphae ca rotate --ca-cert/);
  });

  it('rotates: the bundle holds both roots, new leaves come from the new one; retire waits for the old leaves', async () => {
    const rdir = await tmp();
    // The workloads' keys are made before the CA's clock starts, leaving only rotate()'s own key (seconds on a
    // busy machine) between the old root's last leaf and the first retire: the lifetime must outlast that step
    // by far, and is then waited out.
    const keys = [publicKeyPem(), publicKeyPem()];
    const ttlMs = 15_000;
    const rca = await openCa(rdir, { certTtlMs: ttlMs });
    const bundles: number[] = [];
    rca.onChange((b) => bundles.push(b.version));
    const oldRoot = rca.bundle.roots[0]!;
    rca.signWorkload(keys[0]!, 'default', 'api');
    const status = await rca.rotate();
    assert.equal(status.authorities.length, 2);
    assert.equal(rca.bundle.roots.length, 2);
    assert.equal(rca.bundle.roots[0], oldRoot, 'the old root stays first');
    assert.deepEqual(bundles, [2]);
    const fresh = new X509Certificate(rca.signWorkload(keys[1]!, 'default', 'api').certificate);
    assert.ok(fresh.checkIssued(new X509Certificate(rca.bundle.roots[1]!)), 'new leaves are signed by the new root');
    await assert.rejects(rca.rotate(), (err) => isMeshError(err, 'HYPHAE_ERR_CONFLICT') && /already staged/.test(err.message));
    await assert.rejects(rca.retire(), (err) => isMeshError(err, 'HYPHAE_ERR_CONFLICT') && /may be valid until/.test(err.message));
    const until = Date.parse(rca.status().authorities.find((a) => !a.active)!.leavesValidUntil!);
    assert.ok(until > Date.now() && until <= Date.now() + ttlMs + 1_000, "the old root's last leaf expires within its TTL (rounded up to the second)");
    await new Promise((r) => setTimeout(r, until - Date.now() + 50));
    await rca.retire();
    assert.equal(rca.bundle.roots.length, 1);
    assert.notEqual(rca.bundle.roots[0], oldRoot);
    assert.deepEqual(bundles, [2, 3]);
    await assert.rejects(rca.retire(), /nothing to retire/);
    const reopened = await openCa(rdir, { certTtlMs: ttlMs });
    assert.deepEqual(reopened.bundle, rca.bundle, 'the rotation is durable');
    assert.equal(await readFile(path.join(rdir, 'ca-bundle.pem'), 'utf8'), rca.bundle.roots.join(''));
  });
});
