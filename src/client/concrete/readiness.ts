/**
 * Whether discovery has answered about one service, and the calls waiting for
 * its first answer. A call made before the answer waits, bounded by the
 * mesh's discoveryTimeoutMs and by the inbound request's deadline; a known
 * state stays in force when discovery later fails (fail static).
 */
import { ErrorCode, MeshError } from '../../core/errors.js';
import type { ServiceState } from '../../discovery/watch-cache.js';
import { currentRequestContext } from '../../resilience/request-context.js';
import type { AbortableWait } from './backend-service.js';

interface Waiter {
  resolve: () => void;
  reject: (err: Error) => void;
}

export class Readiness {
  readonly #name: string;
  readonly #namespace: string;
  readonly #timeoutMs: number;
  #state: ServiceState = { status: 'pending' };
  #error: MeshError | undefined;
  #waiters = new Set<Waiter>();

  constructor(name: string, namespace: string, timeoutMs: number) {
    this.#name = name;
    this.#namespace = namespace;
    this.#timeoutMs = timeoutMs;
  }

  get isReady(): boolean {
    return this.#state.status === 'ready';
  }

  get state(): ServiceState {
    return this.#state;
  }

  /** Resolves once discovery knows the service; rejects with its documented error otherwise. */
  whenReady(waiter: AbortableWait): Promise<void> {
    const now = this.#outcome();
    if (now === true) return Promise.resolve();
    if (now) return Promise.reject(now);
    // A call made for an inbound request waits no longer than that request has left.
    const ctx = currentRequestContext();
    const left = ctx === undefined ? Infinity : ctx.remaining();
    const inbound = left < this.#timeoutMs;
    return new Promise<void>((resolve, reject) => {
      const timer = setTimeout(
        () => {
          done();
          reject(
            inbound
              ? new MeshError(ErrorCode.DEADLINE_EXCEEDED, `call to ${this.#name}: the inbound request's deadline passed while waiting for discovery`, {
                  rejected: true,
                  details: { service: this.#name, inbound: true },
                })
              : new MeshError(ErrorCode.CONTROL_PLANE_UNREACHABLE, `no answer about service ${this.#name} within ${this.#timeoutMs} ms`, {
                  rejected: true,
                  details: { service: this.#name },
                }),
          );
        },
        inbound ? Math.max(0, left) : this.#timeoutMs,
      );
      const w: Waiter = {
        resolve: () => {
          done();
          resolve();
        },
        reject: (err) => {
          done();
          reject(err);
        },
      };
      const done = () => {
        clearTimeout(timer);
        this.#waiters.delete(w);
        waiter.setOnAbort(undefined);
      };
      this.#waiters.add(w);
      waiter.setOnAbort((err) => w.reject(err));
    });
  }

  /** A new state from discovery: waiting calls go ahead, or fail with the service's error. */
  update(s: ServiceState): void {
    this.#state = s;
    this.#error = undefined;
    const outcome = this.#outcome();
    if (outcome === undefined) return;
    for (const w of [...this.#waiters]) {
      if (outcome === true) w.resolve();
      else w.reject(outcome);
    }
  }

  /** Discovery failed: calls waiting for a first answer fail now; a known state stays in force (fail static). */
  fail(err: MeshError): void {
    if (this.#state.status !== 'pending') return;
    this.#error = err;
    for (const w of [...this.#waiters]) w.reject(err);
  }

  /** The mesh closes: every waiting call fails with `err`. */
  close(err: MeshError): void {
    for (const w of [...this.#waiters]) w.reject(err);
  }

  /** true when calls may go ahead, the error they get, or undefined while discovery has not answered. */
  #outcome(): true | MeshError | undefined {
    switch (this.#state.status) {
      case 'ready':
        return true;
      case 'not-found':
        return new MeshError(ErrorCode.SERVICE_NOT_FOUND, `service ${this.#name} is not known to the mesh (namespace ${this.#namespace})`, {
          rejected: true,
          details: { service: this.#name, namespace: this.#namespace },
        });
      default:
        return this.#error;
    }
  }
}
