/**
 * The certificate provider against a signer that is the real CA without the
 * network (this unit's transport is a function): first certificate, renewal
 * at half the lifetime, backoff while the signer fails, the current
 * certificate kept until it expires, trust bundle versions.
 */
import assert from 'node:assert/strict';
import { createPublicKey } from 'node:crypto';
import { rm } from 'node:fs/promises';
import { after, before, describe, it } from 'node:test';
import { FileCaStateStore } from '../../src/control-plane/ca/ca-state.js';
import { CertificateAuthority } from '../../src/control-plane/ca/certificate-authority.js';
import { parseCsr } from '../../src/control-plane/ca/csr.js';
import { ErrorCode, MeshError } from '../../src/core/errors.js';
import type { Logger } from '../../src/core/logger.js';
import { CertificateProvider } from '../../src/tls/certificate-provider.js';
import type { CertificateSigner } from '../../src/tls/signer.js';
import { WorkloadTls } from '../../src/tls/workload-tls.js';
import { makeTempDir } from '../helpers/control-plane.js';

class CaSigner implements CertificateSigner {
  calls = 0;
  /** While true, every call fails as an unreachable CA would. */
  down = false;
  constructor(readonly ca: CertificateAuthority) {}
  /** The public key (SPKI PEM) of every CSR received, failed calls included. */
  keys: string[] = [];
  async sign(csr: string) {
    this.calls++;
    const p = parseCsr(csr);
    this.keys.push(spki(p.publicKeyPem));
    if (this.down) throw new MeshError(ErrorCode.CONTROL_PLANE_UNREACHABLE, 'CA down (test)', { retryable: true });
    const id = p.uris[0]!.split('/');
    const signed = this.ca.signWorkload(p.publicKeyPem, id[4]!, id[6]!);
    return { certificate: signed.certificate, chain: signed.chain, trustBundle: this.ca.bundle };
  }
}

/** One spelling of a key (forge writes PEM with CRLF, Node with LF), from a public or a private key's PEM. */
function spki(pem: string): string {
  return createPublicKey(pem).export({ type: 'spki', format: 'pem' }) as string;
}

function logger(): Logger & { lines: string[] } {
  const lines: string[] = [];
  const l = (level: string) => (m: string) => void lines.push(`${level} ${m}`);
  return { lines, debug: l('debug'), info: l('info'), warn: l('warn'), error: l('error') };
}

describe('CertificateProvider', () => {
  let dir: string;
  const providers: CertificateProvider[] = [];
  before(async () => {
    dir = await makeTempDir('hyphae-provider-');
  });
  after(async () => {
    await Promise.all(providers.map((p) => p.close()));
    await rm(dir, { recursive: true, force: true });
  });
  /** The same CA each time (one state file), with the TTL the test needs. */
  const make = (ttlMs: number) => CertificateAuthority.open({ store: new FileCaStateStore(dir), trustDomain: 'td', certTtlMs: ttlMs, log: () => {} });

  // Every renewal makes an RSA key and has it signed: seconds on a busy 2-core machine, so the TTLs here leave
  // room for that, and the test waits for the rotations (events) rather than for a fixed time.
  it('obtains a certificate at start and renews it at about half its lifetime, announcing each rotation', async () => {
    const ca = await make(6_000);
    const signer = new CaSigner(ca);
    const log = logger();
    const p = new CertificateProvider({ signer, service: 'api', namespace: 'default', trustBundle: ca.bundle, logger: log });
    providers.push(p);
    const tls = new WorkloadTls(p);
    const first = await p.start();
    // X.509 times have one-second resolution: what is left is up to a second less than the TTL.
    const left = first.notAfter - Date.now();
    assert.equal(first.identity.id, 'spiffe://td/ns/default/sa/api');
    assert.ok(tls.clientContext(), 'a client context once there is a certificate');
    const rotations: number[] = [];
    const t0 = performance.now();
    p.onChange((why) => why === 'certificate' && rotations.push(performance.now() - t0));
    const deadline = performance.now() + 60_000;
    while (rotations.length < 2 && performance.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    console.log(`TTL 6 s (${left} ms left at start): rotations at ${rotations.map((ms) => ms.toFixed(0)).join(', ')} ms`);
    assert.ok(rotations.length >= 2, `${rotations.length} rotations`);
    // Renewal at 45-55 % of what is left, plus key generation and signing (up to 2 s on a busy machine), and
    // before the certificate expires; the second one about half the new certificate's life later, not at once.
    assert.ok(rotations[0]! > 0.44 * left && rotations[0]! < Math.min(0.56 * left + 2_000, left), `first renewal after ${rotations[0]} ms of ${left}`);
    assert.ok(rotations[1]! - rotations[0]! > 0.44 * (left - 1_000), `second renewal ${rotations[1]! - rotations[0]!} ms after the first`);
    assert.notEqual(p.current!.certificate, first.certificate);
    assert.equal(p.rotations, rotations.length);
  });

  it('keeps the current certificate while the CA is down, retries with backoff, recovers, and says so once', async () => {
    // Renewal starts about 5 s in, leaving about 4 s of retries (each with a new key) before the last second.
    const ca = await make(10_000);
    const signer = new CaSigner(ca);
    const log = logger();
    const p = new CertificateProvider({ signer, service: 'web', namespace: 'default', trustBundle: ca.bundle, logger: log, retryBaseMs: 100 });
    providers.push(p);
    const first = await p.start();
    signer.down = true;
    const callsBefore = signer.calls;
    // Until a second before it expires, the first certificate stays, while renewal keeps trying.
    const until = first.notAfter - 1_000;
    while (Date.now() < until) {
      assert.equal(p.current?.certificate, first.certificate, 'still the first certificate, still valid');
      await new Promise((r) => setTimeout(r, 50));
    }
    const attempts = signer.calls - callsBefore;
    assert.ok(attempts >= 2 && attempts < 40, `${attempts} attempts while down (backoff, not a busy loop)`);
    assert.equal(log.lines.filter((l) => l.startsWith('warn')).length, 1, log.lines.join('\n'));
    signer.down = false;
    const recovered = () => p.latest?.certificate !== first.certificate && log.lines.some((l) => /renewed after the CA came back/.test(l));
    const deadline = performance.now() + 30_000;
    while (!recovered() && performance.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    assert.ok(recovered(), `renewed once the CA is back:\n${log.lines.join('\n')}`);
    console.log(`CA down until just before expiry (10 s TTL): ${attempts} renewal attempts, then renewed`);
  });

  it('gives no certificate once the current one has expired unrenewed', async () => {
    const ca = await make(1_000);
    const signer = new CaSigner(ca);
    const log = logger();
    const p = new CertificateProvider({ signer, service: 'exp', namespace: 'default', trustBundle: ca.bundle, logger: log, retryBaseMs: 100 });
    providers.push(p);
    const tls = new WorkloadTls(p);
    const first = await p.start();
    signer.down = true;
    await new Promise((r) => setTimeout(r, first.notAfter - Date.now() + 100));
    assert.equal(p.current, undefined);
    assert.equal(tls.clientContext(), undefined, 'no context: calls fail with NO_CERTIFICATE instead of presenting an expired one');
    assert.ok(log.lines.some((l) => l.startsWith('error') && /expired/.test(l)));
  });

  it('takes newer trust bundles only, and fails start() at once when the CA refuses', async () => {
    const ca = await make(60_000);
    const p = new CertificateProvider({ signer: new CaSigner(ca), service: 'b', namespace: 'default', trustBundle: ca.bundle, logger: logger() });
    providers.push(p);
    const seen: string[] = [];
    p.onChange((w) => seen.push(w));
    p.setTrustBundle({ ...ca.bundle, version: ca.bundle.version + 1 });
    p.setTrustBundle({ ...ca.bundle, version: ca.bundle.version });
    assert.deepEqual(seen, ['bundle']);
    let refusals = 0;
    const refusing: CertificateSigner = {
      sign: async () => {
        refusals++;
        throw new MeshError(ErrorCode.CONTROL_PLANE_REJECTED, 'control plane answered 403', { details: { status: 403 } });
      },
    };
    const q = new CertificateProvider({ signer: refusing, service: 'b', namespace: 'default', trustBundle: ca.bundle, logger: logger() });
    providers.push(q);
    await assert.rejects(q.start({ attempts: 5 }), (err) => err instanceof MeshError && err.code === 'HYPHAE_ERR_CONTROL_PLANE_REJECTED' && /default\/b/.test(err.message));
    // Counted, not timed: making the key alone can take a second on a busy machine.
    assert.equal(refusals, 1, 'a refusal is not retried');
  });

  it('asks with one key across the failed attempts of a start or a renewal, and a new key for each new certificate', async () => {
    const ca = await make(600_000);
    const signer = new CaSigner(ca);
    const p = new CertificateProvider({ signer, service: 'keys', namespace: 'default', trustBundle: ca.bundle, logger: logger(), retryBaseMs: 60_000, random: () => 1 });
    providers.push(p);

    // Start: the CA answers only the third attempt.
    let failFirst = 2;
    const flaky: CertificateSigner = {
      sign: (csr) => {
        if (failFirst-- > 0) {
          signer.keys.push(spki(parseCsr(csr).publicKeyPem));
          return Promise.reject(new MeshError(ErrorCode.CONTROL_PLANE_UNREACHABLE, 'CA down (test)', { retryable: true }));
        }
        return signer.sign(csr);
      },
    };
    const q = new CertificateProvider({ signer: flaky, service: 'keys', namespace: 'default', trustBundle: ca.bundle, logger: logger() });
    providers.push(q);
    const started = await q.start({ attempts: 3 });
    assert.equal(signer.keys.length, 3);
    assert.equal(new Set(signer.keys).size, 1, 'the three attempts of the start carried one key');
    assert.equal(spki(started.key), signer.keys[0], 'and the certificate is for that key');

    // Renewal: two failed attempts (renewNow, as the retry timer would; the timer itself waits 60 s), then a
    // success, then another renewal.
    signer.keys.length = 0;
    const first = await p.start();
    signer.down = true;
    await p.renewNow();
    await p.renewNow();
    signer.down = false;
    await p.renewNow();
    assert.equal(p.rotations, 1);
    assert.equal(signer.keys.length, 4, 'start, two failed renewals, one that succeeded');
    const [startKey, ...renewal] = signer.keys;
    assert.equal(spki(first.key), startKey);
    assert.equal(new Set(renewal).size, 1, 'the attempts of one renewal carried one key');
    assert.notEqual(renewal[0], startKey, 'a renewal does not reuse the key of the certificate it replaces');
    assert.equal(spki(p.current!.key), renewal[0], 'the renewed certificate is for the renewal\'s key');
    await p.renewNow();
    assert.equal(p.rotations, 2);
    assert.notEqual(signer.keys.at(-1), renewal[0], 'the next renewal makes a new key');
    assert.equal(spki(p.current!.key), signer.keys.at(-1));
  });
});
