/**
 * Deadline intake for wrapServer: reads the caller's remaining budget
 * (`x-hyphae-deadline-ms: <ms>`, see src/resilience/deadline.ts), and runs the
 * application inside a request context (AsyncLocalStorage) that carries the
 * deadline. Every mesh call the handler makes then gets at most the time left,
 * and is cancelled if the caller goes away. Handlers read the deadline with
 * getDeadline() / getRemainingMs(), and stop their own work (a database query)
 * with getSignal().
 *
 * Only requests with a deadline (the header, or `defaultTimeoutMs`) get a
 * context; getSignal() and the other readers return undefined for the others.
 *
 * A request that arrives with no budget left is answered 504 with
 * HYPHAE_ERR_DEADLINE_EXCEEDED (and `x-hyphae-rejected: deadline`) without
 * running the handler: its caller has already given up.
 */
import type http from 'node:http';
import { systemClock, type Clock } from '../core/clock.js';
import { ErrorCode, MeshError } from '../core/errors.js';
import { DEADLINE_HEADER, parseDeadlineHeader } from '../resilience/deadline.js';
import { REFUSED_HEADER } from '../resilience/refusal.js';
import { currentRequestContext, RequestContext, runInRequestContext } from '../resilience/request-context.js';
import type { InboundFilter } from './stack.js';

export interface DeadlineIntakeOptions {
  /** A deadline for requests that bring none (ms); 0 or absent: none. */
  defaultTimeoutMs?: number;
  /** The longest budget accepted from a caller (ms); a larger one is cut to this. */
  maxTimeoutMs?: number;
  clock?: Clock;
}

const kContext = Symbol('hyphae.requestContext');
const kTakesDeadline = Symbol('hyphae.takesDeadlineItself');

/**
 * Marks a server whose handler reads the deadline itself (a gateway's ports: whether a client's budget is
 * believed is the Gateway's setting, which changes live): wrapServer then adds no deadline intake to it.
 * Mark before wrapping.
 */
export function takeDeadlineItself(server: object): void {
  (server as { [kTakesDeadline]?: true })[kTakesDeadline] = true;
}

export function takesDeadlineItself(server: object): boolean {
  return (server as { [kTakesDeadline]?: true })[kTakesDeadline] === true;
}
type WithContext = http.ServerResponse & { [kContext]?: RequestContext };

/** Shared by every response: no closure per request. */
function onResponseClose(this: WithContext): void {
  const ctx = this[kContext];
  if (ctx === undefined) return;
  this[kContext] = undefined;
  if (this.writableFinished) ctx.end();
  else ctx.cancel(new MeshError(ErrorCode.CANCELLED, 'the caller closed the connection before the response was complete'));
}

export function deadlineIntake(options: DeadlineIntakeOptions = {}): InboundFilter {
  const clock = options.clock ?? systemClock;
  const defaultMs = options.defaultTimeoutMs ?? 0;
  const maxMs = options.maxTimeoutMs ?? Infinity;
  const body = JSON.stringify({ error: { code: ErrorCode.DEADLINE_EXCEEDED, message: 'the caller had no time left for this request' } });
  return (next) => (req, res) => {
    const budget = parseDeadlineHeader(req.headers[DEADLINE_HEADER]);
    if (budget === 0) {
      res.writeHead(504, { [REFUSED_HEADER]: 'deadline', 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) });
      res.end(body);
      return;
    }
    const ms = budget ?? (defaultMs > 0 ? defaultMs : Infinity);
    // No deadline: no context. Entering an AsyncLocalStorage for the first time turns on promise hooks for
    // the whole process (Node 20), a cost every request would then pay; a request without a deadline has
    // nothing for its mesh calls to inherit but cancellation, which is not worth that.
    if (ms === Infinity) return next(req, res);
    const ctx = new RequestContext(clock.now() + Math.min(ms, maxMs), clock);
    (res as WithContext)[kContext] = ctx;
    res.once('close', onResponseClose);
    runInRequestContext(ctx, next, req, res);
  };
}

/** The deadline of the request being handled, in epoch ms (comparable with Date.now()); undefined when it has none. */
export function getDeadline(): number | undefined {
  const ctx = currentRequestContext();
  if (ctx === undefined || ctx.deadline === Infinity) return undefined;
  return Date.now() + ctx.remaining();
}

/** Milliseconds left for the request being handled (may be negative once passed); undefined when it has no deadline. */
export function getRemainingMs(): number | undefined {
  const ctx = currentRequestContext();
  if (ctx === undefined || ctx.deadline === Infinity) return undefined;
  return ctx.remaining();
}

/**
 * An AbortSignal for the request being handled: aborted at its deadline
 * (HYPHAE_ERR_DEADLINE_EXCEEDED) or when its caller goes away
 * (HYPHAE_ERR_CANCELLED). Undefined outside a mesh request. Pass it to your
 * own I/O: `db.query(sql, { signal: getSignal() })`.
 */
export function getSignal(): AbortSignal | undefined {
  return currentRequestContext()?.signal;
}
