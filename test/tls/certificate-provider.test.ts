/**
 * The certificate provider against a signer that is a real CA without the
 * network (this unit's transport is a function): first certificate, renewal
 * at half the lifetime, backoff while the signer fails, the current
 * certificate kept until it expires, trust bundle versions.
 *
 * Lifetimes are driven by a fake clock (test/helpers/fake-clock.ts) that the
 * provider and the CA share: the test moves time to each timer the provider
 * arms and waits until it has armed the next, so a busy machine makes the
 * test slower, never wrong. One test keeps the system clock, to prove that
 * the default clock renews and expires real certificates; it bounds time
 * only from below (a timer never fires early) and with a ceiling for stalls.
 */
import assert from 'node:assert/strict';
import { createPublicKey } from 'node:crypto';
import { rm } from 'node:fs/promises';
import { after, before, describe, it } from 'node:test';
import { Authority, createRootAuthority } from '../../src/control-plane/ca/authority.js';
import { FileCaStateStore } from '../../src/control-plane/ca/ca-state.js';
import { CertificateAuthority } from '../../src/control-plane/ca/certificate-authority.js';
import { parseCsr } from '../../src/control-plane/ca/csr.js';
import { issueWorkloadCertificate } from '../../src/control-plane/ca/issue.js';
import { ErrorCode, MeshError } from '../../src/core/errors.js';
import type { Logger } from '../../src/core/logger.js';
import { CertificateProvider, type WorkloadCredentials } from '../../src/tls/certificate-provider.js';
import type { CertificateSigner, TrustBundle } from '../../src/tls/signer.js';
import { WorkloadTls } from '../../src/tls/workload-tls.js';
import { makeTempDir } from '../helpers/control-plane.js';
import { FakeClock } from '../helpers/fake-clock.js';

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

/**
 * A real root authority that signs on the test's clock: a leaf lives `ttlMs` from clock.now(), as if the CA
 * and the workload read the same (fake) time. issueWorkloadCertificate counts from Date.now(), so the
 * lifetime it is given is shifted by the difference.
 */
class ClockCa implements CertificateSigner {
  calls = 0;
  down = false;
  readonly bundle: TrustBundle;
  constructor(
    readonly authority: Authority,
    readonly clock: FakeClock,
    readonly ttlMs: number,
  ) {
    this.bundle = { trustDomain: 'td', version: 1, roots: [authority.root] };
  }
  async sign(csr: string) {
    this.calls++;
    if (this.down) throw new MeshError(ErrorCode.CONTROL_PLANE_UNREACHABLE, 'CA down (test)', { retryable: true });
    const p = parseCsr(csr);
    const issued = issueWorkloadCertificate(this.authority, p.publicKeyPem, p.uris[0]!, this.ttlMs + this.clock.now() - Date.now());
    return { certificate: issued.certificate, chain: this.authority.leafChain, trustBundle: this.bundle };
  }
}

/** Resolves at the provider's next 'certificate' announcement (a renewal in place). */
function nextCertificate(p: CertificateProvider): Promise<WorkloadCredentials> {
  return new Promise((resolve) => {
    const dispose = p.onChange((why) => {
      if (why !== 'certificate') return;
      dispose();
      resolve(p.latest!);
    });
  });
}

/**
 * Move the clock to `due` (the provider's armed timer) and wait until the provider, done with what the
 * timer started, arms its next one; resolves with that one's due time.
 */
async function step(clock: FakeClock, due: number): Promise<number> {
  const armed = clock.nextTimer();
  clock.advance(due - clock.now());
  return within(armed, STALL_MS, 'the provider arming its next timer');
}

/** Key generation and signing take seconds on a busy machine; a minute is a provider that stopped. */
const STALL_MS = 60_000;

/** A promise or a stall: the ceiling only catches a provider that never gets there. */
function within<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const stall = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what}: nothing within ${ms} ms`)), ms);
  });
  return Promise.race([promise, stall]).finally(() => clearTimeout(timer));
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
  let root: Authority;
  before(async () => {
    root = new Authority(await createRootAuthority('td'));
  });
  /** The same CA each time (one state file), with the TTL the test needs. */
  const make = (ttlMs: number) => CertificateAuthority.open({ store: new FileCaStateStore(dir), trustDomain: 'td', certTtlMs: ttlMs, log: () => {} });

  it('obtains a certificate at start and renews it at half what is left (+- jitter/2), announcing each rotation', async () => {
    const clock = new FakeClock(Date.now());
    const ttl = 3_600_000;
    const signer = new ClockCa(root, clock, ttl);
    // The jitter's two ends: the first renewal at 45 % of what is left, the second at 55 %, then the middle.
    const draws = [0, 1];
    const p = new CertificateProvider({ signer, service: 'api', namespace: 'default', trustBundle: signer.bundle, logger: logger(), clock, random: () => draws.shift() ?? 0.5 });
    providers.push(p);
    const tls = new WorkloadTls(p);
    const announced: string[] = [];
    p.onChange((why) => announced.push(why));
    let armed = clock.nextTimer();
    const first = await p.start();
    let due = await within(armed, STALL_MS, 'the first renewal armed');
    // X.509 times have one-second resolution: the CA rounds the end up.
    const left = first.notAfter - clock.now();
    assert.ok(left >= ttl && left < ttl + 1_000, `${left} ms left of a ${ttl} ms lifetime`);
    assert.equal(first.identity.id, 'spiffe://td/ns/default/sa/api');
    assert.ok(tls.clientContext(), 'a client context once there is a certificate');
    assert.ok(Math.abs(due - clock.now() - 0.45 * left) < 1, `first renewal due after ${due - clock.now()} ms of ${left}`);

    // Up to the instant it is due, the first certificate is the one in use.
    clock.advance(due - 1 - clock.now());
    assert.equal(p.current?.certificate, first.certificate);
    let renewed = nextCertificate(p);
    armed = clock.nextTimer();
    clock.advance(1);
    const second = await within(renewed, STALL_MS, 'the first renewal');
    const renewedAt = clock.now();
    due = await within(armed, STALL_MS, 'the second renewal armed');
    assert.notEqual(second.certificate, first.certificate);
    assert.equal(p.current?.certificate, second.certificate);
    const left2 = second.notAfter - renewedAt;
    assert.ok(left2 >= ttl, 'a fresh lifetime');
    assert.ok(Math.abs(due - renewedAt - 0.55 * left2) < 1, `second renewal due ${due - renewedAt} ms after the first, of ${left2}`);
    assert.ok(tls.clientContext(), 'a client context for the new certificate');

    renewed = nextCertificate(p);
    armed = clock.nextTimer();
    clock.advance(due - clock.now());
    const third = await within(renewed, STALL_MS, 'the second renewal');
    due = await within(armed, STALL_MS, 'the third renewal armed');
    assert.notEqual(third.certificate, second.certificate);
    assert.ok(Math.abs(due - clock.now() - 0.5 * (third.notAfter - clock.now())) < 1, 'the third in the middle of the jitter');
    assert.equal(p.rotations, 2);
    assert.deepEqual(announced, ['certificate', 'certificate']);
    assert.equal(signer.calls, 3, 'one signature per certificate');
  });

  it('keeps the current certificate while the CA is down, retries with backoff, recovers, and says so once', async () => {
    const clock = new FakeClock(Date.now());
    const signer = new ClockCa(root, clock, 600_000);
    const log = logger();
    const retryBaseMs = 200;
    const retryMaxMs = 30_000;
    const p = new CertificateProvider({ signer, service: 'web', namespace: 'default', trustBundle: signer.bundle, logger: log, clock, retryBaseMs, retryMaxMs, random: () => 0.5 });
    providers.push(p);
    const armed = clock.nextTimer();
    const first = await p.start();
    let due = await within(armed, STALL_MS, 'the first renewal armed');
    signer.down = true;
    // Down from the renewal (half-life) until a second before the certificate expires.
    const downFrom = due;
    const until = first.notAfter - 1_000;
    const delays: number[] = [];
    while (due < until) {
      const calls = signer.calls;
      const next = await step(clock, due);
      assert.equal(signer.calls, calls + 1, 'one attempt per timer');
      assert.equal(p.current?.certificate, first.certificate, 'still the first certificate, still valid');
      const delay = next - clock.now();
      const left = first.notAfter - clock.now();
      // Never a busy loop, never longer than the ceiling, never past a quarter of what is left.
      assert.ok(delay >= 50 && delay <= Math.max(retryBaseMs, Math.min(retryMaxMs, left / 4)), `retry in ${delay} ms with ${left} ms left`);
      delays.push(delay);
      due = next;
    }
    // Exponential while far from expiry: 2x per failure with the jitter drawn in its middle.
    assert.deepEqual(delays.slice(0, 4), [200, 400, 800, 1_600]);
    assert.ok(delays.length >= 10 && delays.length < 100, `${delays.length} attempts while down for ${((until - downFrom) / 1000).toFixed(0)} s (backoff, not a busy loop)`);
    assert.equal(log.lines.filter((l) => l.startsWith('warn')).length, 1, log.lines.join('\n'));

    signer.down = false;
    const renewed = nextCertificate(p);
    const next = await step(clock, due);
    const second = await within(renewed, STALL_MS, 'the renewal once the CA is back');
    assert.notEqual(second.certificate, first.certificate);
    assert.equal(p.current?.certificate, second.certificate);
    assert.ok(
      log.lines.some((l) => /renewed after the CA came back/.test(l)),
      log.lines.join('\n'),
    );
    assert.ok(Math.abs(next - clock.now() - 0.5 * (second.notAfter - clock.now())) < 1, 'back to renewing at half-life, not backing off');
    console.log(`CA down from half-life to 1 s before expiry (600 s TTL): ${delays.length} renewal attempts, then renewed`);
  });

  it('gives no certificate once the current one has expired unrenewed, and takes the next one when the CA returns', async () => {
    const clock = new FakeClock(Date.now());
    const signer = new ClockCa(root, clock, 60_000);
    const log = logger();
    const p = new CertificateProvider({ signer, service: 'exp', namespace: 'default', trustBundle: signer.bundle, logger: log, clock, retryBaseMs: 100 });
    providers.push(p);
    const tls = new WorkloadTls(p);
    const armed = clock.nextTimer();
    const first = await p.start();
    let due = await within(armed, STALL_MS, 'the first renewal armed');
    signer.down = true;
    while (clock.now() <= first.notAfter) {
      assert.equal(p.current?.certificate, first.certificate, `valid until ${first.notAfter}, now ${clock.now()}`);
      due = await step(clock, due);
    }
    // Read twice: the expiry is logged once, not per read.
    assert.equal(p.current, undefined);
    assert.ok(!p.current);
    assert.equal(p.latest?.certificate, first.certificate, 'the expired one is still the latest (servers show it to peers)');
    assert.equal(tls.clientContext(), undefined, 'no context: calls fail with NO_CERTIFICATE instead of presenting an expired one');
    assert.equal(log.lines.filter((l) => l.startsWith('error') && /expired/.test(l)).length, 1, log.lines.join('\n'));

    signer.down = false;
    const renewed = nextCertificate(p);
    await step(clock, due);
    const second = await within(renewed, STALL_MS, 'the renewal once the CA is back');
    assert.equal(p.latest?.certificate, second.certificate);
    assert.ok(p.current as WorkloadCredentials | undefined, 'valid again');
    assert.ok(tls.clientContext(), 'a client context again');
  });

  it('on the system clock: renews by itself, not before about half its lifetime, and expires unrenewed', { timeout: 120_000 }, async () => {
    // Short real lifetimes: only bounds a busy machine cannot break are asserted (a timer never fires early),
    // and the ceilings only catch a renewal that never comes.
    const ca = await make(2_000);
    const signer = new CaSigner(ca);
    const log = logger();
    const p = new CertificateProvider({ signer, service: 'sys', namespace: 'default', trustBundle: ca.bundle, logger: log, retryBaseMs: 100 });
    providers.push(p);
    const tls = new WorkloadTls(p);
    const asked = Date.now();
    const first = await p.start();
    const second = await within(nextCertificate(p), STALL_MS, 'renewal on the system clock');
    const renewedAt = Date.now();
    // Scheduled when start() had its certificate (after `asked`) at >= 45 % of what was left.
    assert.ok(renewedAt - asked >= 0.44 * (first.notAfter - asked), `renewed ${renewedAt - asked} ms after asking, of ${first.notAfter - asked}`);
    assert.notEqual(second.certificate, first.certificate);
    signer.down = true;
    await new Promise((r) => setTimeout(r, Math.max(0, second.notAfter - Date.now()) + 50));
    assert.equal(p.current, undefined, 'expired on the wall clock');
    assert.equal(tls.clientContext(), undefined);
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
    assert.equal(spki(p.current!.key), renewal[0], "the renewed certificate is for the renewal's key");
    await p.renewNow();
    assert.equal(p.rotations, 2);
    assert.notEqual(signer.keys.at(-1), renewal[0], 'the next renewal makes a new key');
    assert.equal(spki(p.current!.key), signer.keys.at(-1));
  });
});
