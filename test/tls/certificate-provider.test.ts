/**
 * The certificate provider against a signer that is the real CA without the
 * network (this unit's transport is a function): first certificate, renewal
 * at half the lifetime, backoff while the signer fails, the current
 * certificate kept until it expires, trust bundle versions.
 */
import assert from 'node:assert/strict';
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
  async sign(csr: string) {
    this.calls++;
    if (this.down) throw new MeshError(ErrorCode.CONTROL_PLANE_UNREACHABLE, 'CA down (test)', { retryable: true });
    const p = parseCsr(csr);
    const id = p.uris[0]!.split('/');
    const signed = this.ca.signWorkload(p.publicKeyPem, id[4]!, id[6]!);
    return { certificate: signed.certificate, chain: signed.chain, trustBundle: this.ca.bundle };
  }
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
});
