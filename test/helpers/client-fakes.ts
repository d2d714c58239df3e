/**
 * Fakes for unit tests of one client layer: a call with a recording handler,
 * endpoints without sockets, a balancer layer that honours `available` and
 * `avoids`, and a scripted transport that drives REAL Attempt objects through
 * undici's handler calls (onConnect/onHeaders/onData/onComplete/onError), so
 * deliver()/discard() behave exactly as in production.
 */
import type { Dispatcher } from 'undici';
import type { Filter, Handler } from '../../src/core/filter.js';
import { Attempt } from '../../src/client/endpoint/attempt.js';
import { MeshCall } from '../../src/client/call/mesh-call.js';
import type { LegacyHandler } from '../../src/client/call/legacy-handler.js';
import type { CallTarget } from '../../src/client/call/mesh-call.js';
import { Endpoint } from '../../src/client/endpoint/endpoint.js';

export function fakeDestination(name = 'api'): CallTarget {
  return { name, namespace: 'default' };
}

export function fakeEndpoint(port: number): Endpoint {
  return new Endpoint({ id: `127.0.0.1:${port}`, address: '127.0.0.1', port, labels: {}, weight: 1 });
}

export interface Recorded {
  status?: number;
  body: string;
  error?: Error;
  completed: boolean;
}

/** A MeshCall whose application handler records what reaches it. */
export function newCall(opts: Partial<Dispatcher.DispatchOptions> = {}, dest = fakeDestination()): { call: MeshCall; seen: Recorded } {
  const seen: Recorded = { body: '', completed: false };
  const handler: LegacyHandler = {
    onConnect() {},
    onHeaders(status) {
      seen.status = status;
      return true;
    },
    onData(chunk) {
      seen.body += chunk.toString();
      return true;
    },
    onComplete() {
      seen.completed = true;
    },
    onError(err) {
      seen.error = err;
    },
  };
  const call = new MeshCall(dest, { origin: 'http://api', path: '/', method: 'GET', ...opts } as Dispatcher.DispatchOptions, handler);
  call.start();
  return { call, seen };
}

/** Run a handler the way the dispatcher does: deliver on success, fail the call on error. */
export async function dispatchThrough(handle: Handler<MeshCall, Attempt>, call: MeshCall): Promise<void> {
  try {
    const a = await handle(call);
    a.deliver();
  } catch (err) {
    call.fail(err as Error);
  }
}

/**
 * Picks the first endpoint that is available and not avoided by the call (any
 * endpoint if none is). Starts from the first every time unless `rotate`, so
 * that only avoidance moves a retry elsewhere.
 */
export function testBalance(endpoints: () => readonly Endpoint[], rotate = false): Filter<MeshCall, Attempt> {
  let cursor = 0;
  return (next) => (call) => {
    const list = endpoints();
    let pick: Endpoint | undefined;
    for (let i = 0; i < list.length && !pick; i++) {
      const ep = list[(cursor + i) % list.length]!;
      if (ep.available && !call.avoids(ep)) pick = ep;
    }
    pick ??= list[cursor % list.length];
    if (rotate) cursor++;
    call.endpoint = pick;
    return next(call);
  };
}

export type Step = { status: number; headers?: Record<string, string>; body?: string; /** keep the body open (no onComplete) */ open?: boolean } | { error: Error } | 'hang';

export function sysError(code: string, message = code): Error {
  return Object.assign(new Error(message), { code });
}

/**
 * The innermost handler for unit tests: each attempt takes the next step of
 * the script (the last one repeats). Records every attempt and what the
 * request looked like when it was sent.
 */
export class ScriptedTransport {
  readonly attempts: Attempt[] = [];
  /** Headers and body of each attempt's request, as sent. */
  readonly sent: { endpoint: string; headers: Dispatcher.DispatchOptions['headers']; body: unknown }[] = [];
  /** Aborts undici would have received (reason messages). */
  readonly aborts: string[] = [];
  #script: Step[];
  #i = 0;

  constructor(script: Step[]) {
    this.#script = script;
  }

  readonly handle: Handler<MeshCall, Attempt> = (call) => {
    const step = this.#script[Math.min(this.#i++, this.#script.length - 1)]!;
    const attempt = new Attempt(call, call.endpoint!);
    this.attempts.push(attempt);
    this.sent.push({ endpoint: call.endpoint!.id, headers: call.opts.headers, body: call.opts.body });
    let finished = false;
    attempt.onConnect((err) => {
      this.aborts.push(err.message);
      if (!finished) {
        finished = true;
        attempt.onError(err);
      }
    });
    queueMicrotask(() => {
      if (finished || step === 'hang') return;
      if ('error' in step) {
        finished = true;
        attempt.onError(step.error);
        return;
      }
      const raw: Buffer[] = [];
      for (const [k, v] of Object.entries(step.headers ?? {})) raw.push(Buffer.from(k), Buffer.from(v));
      attempt.onHeaders(step.status, raw, () => {}, '');
      if (step.body) attempt.onData(Buffer.from(step.body));
      if (!step.open) {
        finished = true;
        attempt.onComplete(null);
      }
    });
    return attempt.promise;
  };
}

export const flush = () => new Promise<void>((r) => setImmediate(r));
