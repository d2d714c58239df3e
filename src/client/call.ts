/**
 * One logical call through the client stack: what the application asked for,
 * the destination, and the state the layers share (attempt count, the chosen
 * endpoint, abort). It also owns the application's handler, so that exactly
 * one terminal callback (complete or error) ever reaches it.
 */
import type { Dispatcher } from 'undici';
import { ErrorCode, MeshError } from '../core/errors.js';
import type { CallDeadline, DeadlineTarget } from '../resilience/deadline.js';
import type { ClientCallTelemetry } from '../telemetry/client-call.js';
import type { Destination } from './destination.js';
import type { Endpoint } from './endpoint.js';
import { RequestHeaders } from './request-headers.js';
import type { Backend } from './routing/backend.js';
import { sameName, withHeaderValues } from './filters/headers.js';
import type { RoutePolicy } from './filters/policy.js';
import { withOptions } from './options-copy.js';

/** The legacy (undici 6 style) handler shape: undici's own core speaks it, so it costs no conversion. */
export interface LegacyHandler {
  onConnect?(abort: (err?: Error) => void, context?: object): void;
  onResponseStarted?(): void;
  onHeaders?(statusCode: number, rawHeaders: Buffer[], resume: () => void, statusText: string): boolean;
  onData?(chunk: Buffer): boolean;
  onComplete?(trailers: string[] | Buffer[] | null): void;
  onError?(err: Error): void;
  onUpgrade?(statusCode: number, rawHeaders: Buffer[], socket: unknown): void;
}

/** What the call can stop: the attempt under way (an Attempt). */
export interface AbortableAttempt {
  abortNow(err: Error): void;
}

export class MeshCall implements DeadlineTarget {
  readonly destination: Destination;
  /**
   * What is sent: the application's options, untouched, unless a layer replaced
   * them with a modified copy for this call — a route filter (header modifier,
   * URL rewrite, see rewrite()) or trace context. Never the caller's object
   * edited. Every attempt sends the same options.
   */
  opts: Dispatcher.DispatchOptions;
  readonly handler: LegacyHandler;
  /** 0 for the first try; each retry adds one. */
  attempt = 0;
  /** Set by the route layer: the backend (service subset) this call goes to; undefined = the whole destination. */
  backend: Backend | undefined = undefined;
  /** The name of the route rule that matched (for telemetry), undefined when no route applied. */
  route: string | undefined = undefined;
  /** The matched rule's own timeouts and retry policy, when it sets them (else the destination's apply). */
  routePolicy: RoutePolicy | undefined = undefined;
  /** Set by the balancer for the attempt under way. */
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

  // ---- resilience (issue 5): deadline, retry, limits ----
  /** Absolute deadline of the whole call on the mesh clock (performance.now() ms); Infinity when none. */
  deadline = Infinity;
  /** The call's one timer (deadline and per-try timeout), when it has either; cleared when the call ends. */
  timer: CallDeadline | undefined = undefined;
  /** Endpoints an attempt of this call failed on: the balancer avoids them while others are available. */
  failedEndpoints: Endpoint[] | undefined = undefined;
  /** Send the next attempts on a new connection (set by retry after a reset: idle connections may be stale). */
  freshConnection = false;
  /** What runs when the call ends: the first hook in a field (usually the only one: the limiter's release), more in an array. */
  #doneHook: (() => void) | undefined = undefined;
  #doneHooks: (() => void)[] | undefined = undefined;

  /** `opts` was made by the mesh for this call alone (options-copy.ts, handOver): addHeaders may change it once. */
  #ownsOpts: boolean;

  constructor(destination: Destination, opts: Dispatcher.DispatchOptions, handler: LegacyHandler, ownsOpts = false) {
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
    this.abort(
      new MeshError(ErrorCode.DEADLINE_EXCEEDED, `call to ${this.destination.name} exceeded its deadline`, {
        details: { service: this.destination.name, endpoint: this.endpoint?.id, attempt: this.attempt },
      }),
    );
  }

  /** The call's timer says the try under way took too long: stop it (retryable); the call goes on. */
  onTryDeadline(): void {
    this.abortAttempt(
      new MeshError(ErrorCode.TRY_TIMEOUT, `attempt ${this.attempt + 1} to ${this.destination.name} exceeded its per-try timeout`, {
        retryable: true,
        details: { service: this.destination.name, endpoint: this.endpoint?.id, attempt: this.attempt, perTryMs: this.timer?.perTryMs },
      }),
    );
  }

  /** An attempt failed on `ep`: later attempts of this call avoid it while they have a choice. */
  markFailed(ep: Endpoint): void {
    const list = (this.failedEndpoints ??= []);
    if (!list.includes(ep)) list.push(ep);
  }

  /** True when an earlier attempt of this call failed on `ep` (for balancers). */
  avoids(ep: Endpoint): boolean {
    return this.failedEndpoints !== undefined && this.failedEndpoints.includes(ep);
  }
}

type ScannableHeaders = readonly unknown[] | Readonly<Record<string, unknown>>;

/**
 * RequestHeaders' answer for one name, without building it: the values of
 * every entry whose name matches in any case, in order, joined with ", ";
 * undefined when there are none (null/undefined values and empty arrays count
 * as none, as there).
 */
function scanHeader(raw: ScannableHeaders, name: string): string | undefined {
  let out: string | undefined;
  if (Array.isArray(raw)) {
    if (raw.length > 0 && Array.isArray(raw[0])) {
      for (const pair of raw as readonly [unknown, unknown][]) if (sameName(String(pair[0]), name)) out = joinValue(out, pair[1]);
    } else {
      for (let i = 0; i + 1 < raw.length; i += 2) if (sameName(String(raw[i]), name)) out = joinValue(out, raw[i + 1]);
    }
    return out;
  }
  const obj = raw as Readonly<Record<string, unknown>>;
  for (const k in obj) if (Object.hasOwn(obj, k) && sameName(k, name)) out = joinValue(out, obj[k]);
  return out;
}

function joinValue(out: string | undefined, v: unknown): string | undefined {
  if (v === undefined || v === null) return out;
  if (Array.isArray(v)) {
    for (const x of v) out = out === undefined ? String(x) : `${out}, ${String(x)}`;
    return out;
  }
  return out === undefined ? String(v) : `${out}, ${String(v)}`;
}

/** Adapts a new-style (undici 7 controller) handler to the legacy calls the mesh makes. */
export function toLegacyHandler(handler: Dispatcher.DispatchHandler): LegacyHandler {
  const h = handler as Dispatcher.DispatchHandler & LegacyHandler;
  // The adapter is a function of its own: its closures' context would otherwise be allocated on every call.
  return typeof h.onRequestStart !== 'function' ? h : adaptControllerHandler(h);
}

function adaptControllerHandler(h: Dispatcher.DispatchHandler & LegacyHandler): LegacyHandler {
  let paused = false;
  let aborted = false;
  let reason: Error | null = null;
  let abortFn: (err?: Error) => void = () => {};
  let resumeFn: (() => void) | undefined;
  const controller = {
    abort(r: Error) {
      if (aborted) return;
      aborted = true;
      reason = r;
      abortFn(r);
    },
    pause() {
      paused = true;
    },
    resume() {
      if (!paused) return;
      paused = false;
      resumeFn?.();
    },
    get paused() {
      return paused;
    },
    get aborted() {
      return aborted;
    },
    get reason() {
      return reason;
    },
    rawHeaders: null as Buffer[] | null,
    rawTrailers: null as Buffer[] | null,
  };
  return {
    onConnect(abort) {
      abortFn = abort;
      h.onRequestStart!(controller as unknown as Dispatcher.DispatchController, {});
    },
    onHeaders(statusCode, rawHeaders, resume, statusText) {
      resumeFn = resume;
      controller.rawHeaders = rawHeaders;
      h.onResponseStart?.(controller as unknown as Dispatcher.DispatchController, statusCode, parseRawHeaders(rawHeaders), statusText);
      return !paused;
    },
    onData(chunk) {
      h.onResponseData?.(controller as unknown as Dispatcher.DispatchController, chunk);
      return !paused;
    },
    onComplete(trailers) {
      h.onResponseEnd?.(controller as unknown as Dispatcher.DispatchController, parseRawHeaders((trailers ?? []) as Buffer[]));
    },
    onError(err) {
      h.onResponseError?.(controller as unknown as Dispatcher.DispatchController, err);
    },
  };
}

export function parseRawHeaders(raw: readonly (Buffer | string)[]): Record<string, string | string[]> {
  const out: Record<string, string | string[]> = {};
  for (let i = 0; i + 1 < raw.length; i += 2) {
    const key = raw[i]!.toString().toLowerCase();
    const val = raw[i + 1]!.toString();
    const prev = out[key];
    if (prev === undefined) out[key] = val;
    else if (Array.isArray(prev)) prev.push(val);
    else out[key] = [prev, val];
  }
  return out;
}

function parseQuery(path: string): Map<string, string> {
  const out = new Map<string, string>();
  const q = path.indexOf('?');
  if (q < 0) return out;
  for (const part of path.slice(q + 1).split('&')) {
    if (part === '') continue;
    const eq = part.indexOf('=');
    const name = decode(eq < 0 ? part : part.slice(0, eq));
    if (!out.has(name)) out.set(name, eq < 0 ? '' : decode(part.slice(eq + 1)));
  }
  return out;
}

function decode(s: string): string {
  const plus = s.includes('+') ? s.replaceAll('+', ' ') : s;
  try {
    return decodeURIComponent(plus);
  } catch {
    return plus;
  }
}
