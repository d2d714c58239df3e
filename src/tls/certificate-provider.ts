/**
 * The workload's certificate (its X.509-SVID) over time: obtained at start,
 * renewed at half its remaining lifetime (with jitter, so a fleet started
 * together does not renew together), retried with backoff while the CA is
 * unreachable, and kept in use until it expires. Every change of certificate
 * or trust bundle is announced, so TLS contexts are rebuilt once per change
 * and never per connection.
 */
import { createPrivateKey, X509Certificate } from 'node:crypto';
import { ErrorCode, MeshError } from '../core/errors.js';
import { fullJitter } from '../core/backoff.js';
import { systemClock, type Clock, type Timer } from '../core/clock.js';
import { Listeners, type Disposer } from '../core/events.js';
import type { Logger } from '../core/logger.js';
import { createCsr, type CsrIdentity } from './csr.js';
import { generateKeyPair, type KeyPair } from './keys.js';
import { uriSans } from './peer-certificate.js';
import type { CertificateSigner, TrustBundle } from './signer.js';
import { parseWorkloadId, type WorkloadIdentity } from './spiffe.js';

export interface WorkloadCredentials {
  /** PKCS#8 PEM of the private key. */
  key: string;
  certificate: string;
  chain: readonly string[];
  identity: WorkloadIdentity;
  notBefore: number;
  notAfter: number;
}

export type ProviderChange = 'certificate' | 'bundle';

export interface CertificateProviderOptions {
  signer: CertificateSigner;
  service: string;
  namespace: string;
  /** The trust bundle known before the first certificate (its trust domain names the identity asked for). */
  trustBundle: TrustBundle;
  logger: Logger;
  /** Renew at this fraction of the remaining lifetime, +- jitter/2. Default 0.5 and 0.1. */
  renewAt?: number;
  jitter?: number;
  /** Backoff between failed renewals. Default 200 ms .. 30 s (never past a quarter of what is left). */
  retryBaseMs?: number;
  retryMaxMs?: number;
  random?: () => number;
  /**
   * Time for validity checks and renewal timers. Its now() must be wall-clock milliseconds since the
   * epoch, as certificate times are. Default: Date.now() with the system's timers. Tests pass a fake
   * clock to drive renewal, backoff and expiry without racing real lifetimes.
   */
  clock?: Clock;
}

/**
 * systemClock's timers, but Date.now(): its performance.now() counts from process start and cannot be
 * compared with a certificate's notAfter.
 */
const wallClock: Clock = { now: () => Date.now(), setTimeout: (fn, ms) => systemClock.setTimeout(fn, ms) };

/** setTimeout's limit; longer waits are taken in steps. */
const MAX_TIMER_MS = 2 ** 31 - 1;

export class CertificateProvider {
  #opts: Required<Omit<CertificateProviderOptions, 'trustBundle' | 'clock'>>;
  #bundle: TrustBundle;
  #current: WorkloadCredentials | undefined;
  #changes = new Listeners<ProviderChange>();
  #issued = new Listeners<WorkloadCredentials>();
  #clock: Clock;
  #timer: Timer | undefined;
  #abort = new AbortController();
  #renewing: Promise<void> | undefined;
  /** The key pair of the certificate being obtained, kept across failed attempts until one succeeds. */
  #nextKey: Promise<KeyPair> | undefined;
  #failures = 0;
  #expiredWarned = false;
  #closed = false;
  /** Certificates obtained after the first one. */
  rotations = 0;

  constructor(options: CertificateProviderOptions) {
    const { clock = wallClock, ...rest } = options;
    this.#opts = { renewAt: 0.5, jitter: 0.1, retryBaseMs: 200, retryMaxMs: 30_000, random: Math.random, ...rest };
    this.#clock = clock;
    this.#bundle = options.trustBundle;
  }

  /** The current credentials; undefined before start() and once the certificate has expired unrenewed. */
  get current(): WorkloadCredentials | undefined {
    const c = this.#current;
    if (c && this.#clock.now() > c.notAfter) {
      if (!this.#expiredWarned) {
        this.#expiredWarned = true;
        this.#opts.logger.error('hyphae: the workload certificate has expired and could not be renewed; mTLS calls fail until the CA answers', {
          spiffeId: c.identity.id,
        });
      }
      return undefined;
    }
    return c;
  }

  /** The newest credentials, expired or not. */
  get latest(): WorkloadCredentials | undefined {
    return this.#current;
  }

  get trustBundle(): TrustBundle {
    return this.#bundle;
  }

  /** Announces 'certificate' after each renewal and 'bundle' after each new trust bundle. */
  onChange(listener: (change: ProviderChange) => void): Disposer {
    return this.#changes.on(listener);
  }

  /** Told about every certificate obtained from the CA, the first included (to keep a copy: see src/mesh/identity-cache.ts). */
  onIssued(listener: (credentials: WorkloadCredentials) => void): Disposer {
    return this.#issued.on(listener);
  }

  /**
   * Start from credentials kept from an earlier run, when the CA cannot be
   * reached now (the process starts during a control-plane outage). They are
   * checked as a fresh answer from the CA would be — the key matches the
   * certificate, the identity is this workload's, it chains to a root of the
   * trust bundle, and it is valid now — then renewal is tried at once and
   * retried with backoff until the CA answers. Throws a MeshError saying why
   * when they cannot be used.
   */
  startFrom(credentials: WorkloadCredentials): WorkloadCredentials {
    const problem = this.#checkCached(credentials);
    if (problem !== undefined) {
      throw new MeshError(ErrorCode.CONTROL_PLANE_UNREACHABLE, `the cached certificate of ${this.#opts.namespace}/${this.#opts.service} cannot be used: ${problem}`, {
        retryable: true,
      });
    }
    this.#current = credentials;
    this.#expiredWarned = false;
    this.#opts.logger.warn('hyphae: the CA is unreachable; using the workload certificate cached by an earlier run until it can be renewed', {
      spiffeId: credentials.identity.id,
      notAfter: new Date(credentials.notAfter).toISOString(),
    });
    // It may be old: renew as soon as the CA answers (the failures back off, see #renew).
    this.#schedule(0);
    return credentials;
  }

  #checkCached(c: WorkloadCredentials): string | undefined {
    let x509: X509Certificate;
    try {
      x509 = new X509Certificate(c.certificate);
      if (!x509.checkPrivateKey(createPrivateKey(c.key))) return 'its key does not match the certificate';
    } catch (err) {
      return `it cannot be read (${(err as Error).message})`;
    }
    const now = this.#clock.now();
    const notAfter = Date.parse(x509.validTo);
    if (!(notAfter > now) || Date.parse(x509.validFrom) > now) return `it is not valid now (valid ${x509.validFrom} to ${x509.validTo})`;
    const uris = uriSans(x509.subjectAltName) ?? [];
    const identity = uris.length === 1 ? parseWorkloadId(uris[0]!) : undefined;
    if (!identity || identity.service !== this.#opts.service || identity.namespace !== this.#opts.namespace || identity.trustDomain !== this.#bundle.trustDomain) {
      return `it is for ${uris.join(', ') || 'no identity'}, not for ${this.#opts.namespace}/${this.#opts.service} in ${this.#bundle.trustDomain}`;
    }
    // Leaf -> intermediates (as the CA sent them) -> a root of the trust bundle.
    let child = x509;
    for (const pem of [...c.chain, undefined]) {
      if (pem === undefined) {
        const roots = this.#bundle.roots.map((r) => new X509Certificate(r));
        return roots.some((r) => child.checkIssued(r) && child.verify(r.publicKey)) ? undefined : 'it does not chain to a root of the trust bundle';
      }
      const parent = new X509Certificate(pem);
      if (!child.checkIssued(parent) || !child.verify(parent.publicKey)) return 'its chain is broken';
      child = parent;
    }
    return undefined;
  }

  /** Obtain the first certificate, trying `attempts` times (forever when `wait`). */
  async start({ attempts = 5, wait = false }: { attempts?: number; wait?: boolean } = {}): Promise<WorkloadCredentials> {
    let lastErr: unknown;
    for (let i = 0; (wait || i < attempts) && !this.#closed; i++) {
      try {
        await this.#obtain();
        this.#schedule();
        return this.#current!;
      } catch (err) {
        lastErr = err;
        // A refusal (bad token, wrong identity) will not change by asking again.
        if (err instanceof MeshError && err.code === ErrorCode.CONTROL_PLANE_REJECTED) break;
        if (wait || i + 1 < attempts) await this.#pause(fullJitter(i + 1, { baseMs: 200, maxMs: 2_000 }));
      }
    }
    if (lastErr instanceof MeshError) {
      throw new MeshError(lastErr.code, `could not obtain a certificate for ${this.#opts.namespace}/${this.#opts.service}: ${lastErr.message}`, {
        cause: lastErr,
        retryable: lastErr.retryable,
        details: lastErr.details,
      });
    }
    throw new MeshError(ErrorCode.CONTROL_PLANE_UNREACHABLE, `could not obtain a certificate for ${this.#opts.namespace}/${this.#opts.service}: ${String(lastErr)}`, {
      cause: lastErr,
      retryable: true,
    });
  }

  /** A trust bundle from the watch stream (or a signing answer); older versions are ignored. */
  setTrustBundle(bundle: TrustBundle): void {
    if (bundle.version <= this.#bundle.version && bundle.trustDomain === this.#bundle.trustDomain) return;
    this.#bundle = bundle;
    this.#changes.emit('bundle');
  }

  /** Renew now (tests, operators); resolves when the new certificate is in place. */
  renewNow(): Promise<void> {
    this.#timer?.clear();
    return this.#renew();
  }

  async #obtain(): Promise<void> {
    // One key per certificate, not per attempt: retries while the CA is down (at start or renewal) would
    // otherwise each make a 2048-bit RSA key, tens to hundreds of ms of CPU on a busy machine, for nothing.
    const keys = await (this.#nextKey ??= generateKeyPair().catch((err: unknown) => {
      this.#nextKey = undefined;
      throw err;
    }));
    const id: CsrIdentity = { trustDomain: this.#bundle.trustDomain, namespace: this.#opts.namespace, service: this.#opts.service };
    const signed = await this.#opts.signer.sign(createCsr(keys, id));
    const x509 = new X509Certificate(signed.certificate);
    // The CA is trusted, but a mix-up (another key, another identity) must not go unnoticed until peers refuse us.
    if (!x509.checkPrivateKey(keys.privateKey)) throw new MeshError(ErrorCode.INTERNAL, 'the CA returned a certificate for another key');
    const uris = uriSans(x509.subjectAltName) ?? [];
    const identity = uris.length === 1 ? parseWorkloadId(uris[0]!) : undefined;
    if (!identity || identity.service !== this.#opts.service || identity.namespace !== this.#opts.namespace) {
      throw new MeshError(ErrorCode.INTERNAL, `the CA returned a certificate for ${uris.join(', ') || 'no identity'}, not for ${this.#opts.namespace}/${this.#opts.service}`);
    }
    const first = this.#current === undefined;
    // This key is now the certificate's: the next renewal makes a fresh one.
    this.#nextKey = undefined;
    this.#current = {
      key: keys.privateKey.export({ type: 'pkcs8', format: 'pem' }) as string,
      certificate: signed.certificate,
      chain: signed.chain,
      identity,
      notBefore: Date.parse(x509.validFrom),
      notAfter: Date.parse(x509.validTo),
    };
    this.#expiredWarned = false;
    if (!first) this.rotations++;
    // The answer's bundle may be newer than the stream's (a root rotation): take it before announcing the certificate.
    this.setTrustBundle(signed.trustBundle);
    if (!first) this.#changes.emit('certificate');
    this.#issued.emit(this.#current);
  }

  #schedule(delayMs?: number): void {
    if (this.#closed) return;
    const c = this.#current!;
    let delay = delayMs;
    if (delay === undefined) {
      const { renewAt, jitter, random } = this.#opts;
      delay = Math.max(0, c.notAfter - this.#clock.now()) * (renewAt - jitter / 2 + jitter * random());
    }
    const step = Math.min(delay, MAX_TIMER_MS);
    this.#timer = this.#clock.setTimeout(() => {
      if (step < delay) this.#schedule(delay - step);
      else void this.#renew();
    }, step);
    // Renewal must not keep a process alive on its own.
    this.#timer.unref();
  }

  /** A wait between attempts of start(), cut short by close(). */
  #pause(ms: number): Promise<void> {
    const signal = this.#abort.signal;
    if (signal.aborted) return Promise.resolve();
    return new Promise((resolve) => {
      const done = () => {
        timer.clear();
        signal.removeEventListener('abort', done);
        resolve();
      };
      const timer = this.#clock.setTimeout(done, ms);
      signal.addEventListener('abort', done, { once: true });
    });
  }

  #renew(): Promise<void> {
    return (this.#renewing ??= (async () => {
      try {
        await this.#obtain();
        if (this.#failures > 0) this.#opts.logger.info('hyphae: certificate renewed after the CA came back', { failures: this.#failures });
        this.#failures = 0;
        this.#schedule();
      } catch (err) {
        if (this.#closed) return;
        this.#failures++;
        const left = (this.#current?.notAfter ?? 0) - this.#clock.now();
        if (this.#failures === 1) {
          this.#opts.logger.warn('hyphae: certificate renewal failed; the current certificate stays in use while retrying', {
            error: String(err),
            expiresInMs: left,
          });
        }
        const ceiling = Math.max(this.#opts.retryBaseMs, Math.min(this.#opts.retryMaxMs, left > 0 ? left / 4 : this.#opts.retryMaxMs));
        this.#schedule(Math.max(50, fullJitter(this.#failures, { baseMs: this.#opts.retryBaseMs, maxMs: ceiling, random: this.#opts.random })));
      } finally {
        this.#renewing = undefined;
      }
    })());
  }

  async close(): Promise<void> {
    this.#closed = true;
    this.#timer?.clear();
    this.#abort.abort();
    this.#changes.clear();
    this.#issued.clear();
  }
}
