/**
 * One call through the client stack: the request as the application gave it
 * (and the view the layers read of it), and its lifecycle — start, abort, the
 * one terminal callback (complete, fail or abandon) that reaches the
 * application's handler, and what runs when it ends. Each tier's own state is
 * elsewhere: the logical tier's in `logical` (LogicalState), each try's in
 * its Attempt (endpoint tier); `endpoint` is the concrete tier's pick for the
 * try about to be sent, the one hand-off between those two tiers.
 */
import type { Dispatcher } from 'undici';
import { ErrorCode, MeshError } from '../../core/errors.js';
import type { CallDeadline, DeadlineTarget } from '../../resilience/deadline.js';
import type { ClientCallTelemetry } from '../../telemetry/client-call.js';
import type { Endpoint } from '../endpoint/endpoint.js';
import { LogicalState } from '../logical/logical-state.js';
import { RequestHeaders } from './request-headers.js';
import { withHeaderValues } from './headers.js';
import type { LegacyHandler } from './legacy-handler.js';
import { withOptions } from './options-copy.js';
import { parseQuery, scanHeader, type ScannableHeaders } from './request-view.js';

/** The service a call is addressed to (the logical one: the host in the URL), for messages. */
export interface CallTarget {
  readonly name: string;
  readonly namespace: string;
}

/** What the call can stop: the attempt under way (an Attempt). */
export interface AbortableAttempt {
  abortNow(err: Error): void;
}

export class MeshCall implements DeadlineTarget {
  readonly destination: CallTarget;
  /**
   * What is sent: the application's options, untouched, unless a layer replaced
   * them with a modified copy for this call — a route filter (header modifier,
   * URL rewrite, see rewrite()) or trace context. Never the caller's object
   * edited. Every attempt sends the same options.
   */
  opts: Dispatcher.DispatchOptions;
  readonly handler: LegacyHandler;
  /** The logical tier's state: route, backend, deadline, tries. */
  readonly logical = new LogicalState();
  /** The concrete tier's pick for the try about to be sent (the endpoint tier's transport reads it). */
  endpoint: Endpoint | undefined = undefined;
  abortReason: Error | undefined = undefined;
  /** The call's span and metrics (set by the telemetry filter), told when the call ends. */
  telemetry: ClientCallTelemetry | undefined = undefined;
  #headers: RequestHeaders | undefined = undefined;
  #pathname: string | undefined = undefined;
  #query: Map<string, string> | undefined = undefined;
  #attempt: AbortableAttempt | undefined = undefined;
  #onAbort: ((err: Error) => void) | undefined = undefined;
  #done = false;

  /** The call's one timer (deadline and per-try timeout), when it has either; cleared when the call ends. */
  timer: CallDeadline | undefined = undefined;
  /** What runs when the call ends: the first hook in a field (usually the only one: the limiter's release), more in an array. */
  #doneHook: (() => void) | undefined = undefined;
  #doneHooks: (() => void)[] | undefined = undefined;

  /** `opts` was made by the mesh for this call alone (options-copy.ts, handOver): addHeaders may change it once. */
  #ownsOpts: boolean;

  constructor(destination: CallTarget, opts: Dispatcher.DispatchOptions, handler: LegacyHandler, ownsOpts = false) {
    this.destination = destination;
    this.opts = opts;
    this.handler = handler;
    this.#ownsOpts = ownsOpts;
  }

  get done(): boolean {
    return this.#done;
  }

  /**
   * The request headers by lower-case name. Parsed from the application's
   * options on first use only, so calls whose routes and balancer look at no
   * header never pay for it.
   */
  get headers(): RequestHeaders {
    return (this.#headers ??= RequestHeaders.from(this.opts.headers));
  }

  /**
   * One request header by lower-case name (repeated values joined with ", "),
   * as `headers.get(name)` answers, but read from the options in place while
   * nothing has parsed them: route matching on a header costs no Map. An
   * iterable that is not an array (maybe one-shot) is parsed once instead.
   */
  header(name: string): string | undefined {
    if (this.#headers !== undefined) return this.#headers.get(name);
    const raw = this.opts.headers;
    if (raw == null) return undefined;
    if (!Array.isArray(raw) && typeof (raw as Iterable<unknown>)[Symbol.iterator] === 'function') return this.headers.get(name);
    return scanHeader(raw as ScannableHeaders, name);
  }

  /** True when the request has the header (lower-case name), as `headers.has(name)` answers. */
  hasHeader(name: string): boolean {
    return this.header(name) !== undefined;
  }

  /** The request path without its query string. */
  get pathname(): string {
    if (this.#pathname === undefined) {
      const path = this.opts.path;
      const q = path.indexOf('?');
      this.#pathname = q < 0 ? path : path.slice(0, q);
    }
    return this.#pathname;
  }

  /** A query parameter's value (the first when repeated, as the Gateway API says), decoded; undefined when absent. */
  query(name: string): string | undefined {
    return (this.#query ??= parseQuery(this.opts.path)).get(name);
  }

  /**
   * Send the (modified) headers, and `path` when given, instead of the
   * application's: the options are copied once, here, never mutated.
   */
  rewrite(path?: string): void {
    const headers = this.#headers ? this.#headers.toFlat() : this.opts.headers;
    this.opts = withOptions(this.opts, { path: path ?? this.opts.path, headers });
    if (path !== undefined) {
      this.#pathname = undefined;
      this.#query = undefined;
    }
  }

  /**
   * Send the headers of `add` (lower-case names; replacing any of the same
   * name, in any case) on every attempt; for the outermost layer, before
   * anything else has read the options. Options the mesh made for this call
   * are set in place, once; an application's are copied, never edited.
   */
  addHeaders(add: Record<string, string>): void {
    const headers = withHeaderValues(this.opts.headers, add);
    if (headers === this.opts.headers) return;
    if (this.#ownsOpts) this.opts.headers = headers;
    else this.opts = withOptions(this.opts, { headers });
    this.#ownsOpts = false;
    this.#headers = undefined;
  }

  /** Called once, before any attempt: hands the application its abort function. */
  start(): void {
    this.handler.onConnect?.((err) => this.abort(err ?? new Error('request aborted')));
  }

  abort(reason: Error): void {
    if (this.abortReason || this.#done) return;
    this.abortReason = reason;
    this.#attempt?.abortNow(reason);
    this.#onAbort?.(reason);
  }

  /** The running attempt registers itself, so that an application abort reaches the socket (no closure per attempt). */
  setAttempt(attempt: AbortableAttempt | undefined): void {
    this.#attempt = attempt;
    if (attempt && this.abortReason) attempt.abortNow(this.abortReason);
  }

  /** A layer waiting on something other than an attempt (discovery, backoff) registers how to stop waiting. */
  setOnAbort(fn: ((err: Error) => void) | undefined): void {
    this.#onAbort = fn;
  }

  complete(trailers: string[] | Buffer[] | null): void {
    if (this.#done) return;
    this.#done = true;
    // Telemetry first: the duration ends here, and a throwing handler must not lose the span.
    this.telemetry?.completed();
    this.#runDoneHooks();
    this.handler.onComplete?.(trailers);
  }

  fail(err: Error): void {
    if (this.#done) return;
    this.#done = true;
    this.telemetry?.failed(err);
    this.#runDoneHooks();
    this.handler.onError?.(err);
  }

  /**
   * The call leaves the mesh without an answer from it (the dispatcher hands an
   * unknown service to DNS): what the layers hold for it is released (timer,
   * limiter slot, inbound tracking); the application's handler is not called.
   */
  abandon(): void {
    if (this.#done) return;
    this.#done = true;
    this.telemetry?.abandon();
    this.#runDoneHooks();
  }

  /** Run `fn` once the call is over (response complete, failed or abandoned); at once if it already is. */
  onDone(fn: () => void): void {
    if (this.#done) fn();
    else if (this.#doneHook === undefined) this.#doneHook = fn;
    else (this.#doneHooks ??= []).push(fn);
  }

  #runDoneHooks(): void {
    this.timer?.clear();
    const first = this.#doneHook;
    if (first === undefined) return;
    this.#doneHook = undefined;
    const hooks = this.#doneHooks;
    this.#doneHooks = undefined;
    first();
    if (hooks) for (const fn of hooks) fn();
  }

  /** Stop the attempt under way (a per-try timeout) without ending the call: a retry may follow. */
  abortAttempt(reason: Error): void {
    this.#attempt?.abortNow(reason);
  }

  /** The call's timer says its deadline passed: the whole call stops with HYPHAE_ERR_DEADLINE_EXCEEDED. */
  onCallDeadline(): void {
    // Named after where the call went (the backend a route rule chose), not the destination it was made to.
    const service = this.logical.goesTo(this.destination).name;
    this.abort(
      new MeshError(ErrorCode.DEADLINE_EXCEEDED, `call to ${service} exceeded its deadline`, {
        details: { service, endpoint: this.endpoint?.id, attempt: this.logical.attempt },
      }),
    );
  }

  /** The call's timer says the try under way took too long: stop it (retryable); the call goes on. */
  onTryDeadline(): void {
    const service = this.logical.goesTo(this.destination).name;
    this.abortAttempt(
      new MeshError(ErrorCode.TRY_TIMEOUT, `attempt ${this.logical.attempt + 1} to ${service} exceeded its per-try timeout`, {
        retryable: true,
        details: { service, endpoint: this.endpoint?.id, attempt: this.logical.attempt, perTryMs: this.timer?.perTryMs },
      }),
    );
  }

  /** True when an earlier attempt of this call failed on `ep` (balancers read it: PickContext). */
  avoids(ep: Endpoint): boolean {
    return this.logical.avoids(ep);
  }
}
