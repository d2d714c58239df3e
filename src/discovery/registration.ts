/**
 * Keeps one instance registered: registers, renews the lease at a third of its
 * TTL, re-registers when the control plane has forgotten it (restart, expiry
 * during a pause), and deregisters on stop.
 *
 * A server that starts while the control plane is unreachable keeps serving
 * and keeps trying to register in the background (backoff up to 5 s) until the
 * control plane answers: start() resolves then. Only a refusal (a 4xx: a bad
 * token, an invalid request) ends it, since asking again will not change it;
 * but not a quota's 429, which a deregistration or an expiry clears.
 */
import { ErrorCode, MeshError } from '../core/errors.js';
import { fullJitter, sleep } from '../core/backoff.js';
import type { Logger } from '../core/logger.js';
import type { Instance, RegisterRequest } from '../config/instance.js';
import type { ControlPlaneClient } from './control-plane-client.js';

export interface RegistrationOptions {
  /** Attempts before the first failure is logged and the registration goes on in the background. */
  attempts?: number;
}

/** Longest wait between registration attempts while the control plane is unreachable. */
const BACKGROUND_RETRY_MAX_MS = 5_000;

export class Registration {
  #client: ControlPlaneClient;
  #req: RegisterRequest;
  #logger: Logger;
  #leaseId: string | undefined;
  #ttlMs = 10_000;
  #timer: NodeJS.Timeout | undefined;
  #stopped = false;
  #failing = false;
  #instance: Instance | undefined;
  /** Ends a backoff wait at stop(). */
  #abort = new AbortController();

  constructor(client: ControlPlaneClient, req: RegisterRequest, logger: Logger) {
    this.#client = client;
    this.#req = req;
    this.#logger = logger;
  }

  get instance(): Instance | undefined {
    return this.#instance;
  }

  async start({ attempts = 5 }: RegistrationOptions = {}): Promise<Instance> {
    let lastErr: unknown;
    for (let i = 0; !this.#stopped; i++) {
      try {
        await this.#register();
        if (i >= attempts) this.#logger.info('hyphae: registered once the control plane answered', { service: this.#req.service, attempts: i + 1 });
        this.#schedule();
        return this.#instance!;
      } catch (err) {
        lastErr = err;
        // A refusal (validation, token) will not get better by retrying. A quota (429) will: a deregistration
        // or a lease's expiry frees a slot, as in a rolling restart whose old instance died without
        // deregistering; given up on, this instance would serve and never be found.
        const rejected = err instanceof MeshError && err.code === ErrorCode.CONTROL_PLANE_REJECTED;
        const quota = rejected && err.details?.status === 429;
        if (rejected && !quota) break;
        if (i + 1 === attempts) {
          const why = quota ? 'control plane refuses the registration for now (a quota)' : 'control plane unreachable';
          this.#logger.warn(`hyphae: ${why}; the server keeps serving and registers in the background`, {
            service: this.#req.service,
            error: String(err),
          });
        }
        await sleep(fullJitter(i + 1, { baseMs: 100, maxMs: i + 1 < attempts ? 2_000 : BACKGROUND_RETRY_MAX_MS }), this.#abort.signal).catch(() => {});
      }
    }
    const why =
      this.#stopped && !(lastErr instanceof MeshError && lastErr.code === ErrorCode.CONTROL_PLANE_REJECTED)
        ? `stopped before the control plane answered (${lastErr instanceof Error ? lastErr.message : String(lastErr)})`
        : lastErr instanceof Error
          ? lastErr.message
          : String(lastErr);
    throw new MeshError(ErrorCode.REGISTRATION_FAILED, `could not register ${this.#req.service} at ${this.#req.address}:${this.#req.port}: ${why}`, {
      cause: lastErr,
    });
  }

  async #register(): Promise<void> {
    const res = await this.#client.register(this.#req);
    this.#leaseId = res.leaseId;
    this.#ttlMs = res.ttlSeconds * 1000;
    this.#instance = res.instance;
  }

  #schedule(delayMs = this.#ttlMs / 3): void {
    if (this.#stopped) return;
    this.#timer = setTimeout(() => void this.#beat(), delayMs);
    // Heartbeats must not keep a process alive on their own: the server does that.
    this.#timer.unref();
  }

  async #beat(): Promise<void> {
    if (this.#stopped) return;
    try {
      const known = this.#leaseId !== undefined && (await this.#client.renew(this.#leaseId));
      if (this.#stopped) return;
      if (!known) {
        await this.#register();
        this.#logger.info('hyphae: re-registered after the control plane lost the lease', { service: this.#req.service });
      }
      if (this.#failing) this.#logger.info('hyphae: heartbeats reach the control plane again', { service: this.#req.service });
      this.#failing = false;
      this.#schedule();
    } catch (err) {
      if (!this.#failing) this.#logger.warn('hyphae: heartbeat failed; retrying', { service: this.#req.service, error: String(err) });
      this.#failing = true;
      // Retry sooner than a full interval so the lease does not lapse while the control plane blips.
      this.#schedule(Math.min(this.#ttlMs / 3, 1_000));
    }
  }

  /** Stop heartbeating and remove the instance from the registry (bounded by the client's timeout). */
  async stop(): Promise<void> {
    if (this.#stopped) return;
    this.#stopped = true;
    this.#abort.abort();
    clearTimeout(this.#timer);
    const lease = this.#leaseId;
    this.#leaseId = undefined;
    if (lease === undefined) return;
    try {
      await this.#client.deregister(lease);
    } catch (err) {
      // The lease will expire on its own; say so rather than fail the shutdown.
      this.#logger.warn('hyphae: deregistration failed; the lease will expire', { service: this.#req.service, error: String(err) });
    }
  }
}
