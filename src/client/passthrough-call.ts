/**
 * Calls to hosts that are not mesh services (a payment API, a database's HTTP
 * endpoint, a service outside the mesh), traced as mesh calls are: a CLIENT
 * span with an SDK, the trace context written on the request (the request's
 * own without an SDK), the duration metric and the access log line. Issue 20:
 * before, they went to the pass-through agent untouched and broke every trace
 * there.
 *
 * Not a stack: a pass-through call has no route, retry or balancer, so the
 * one thing of the client stack that applies — the call's telemetry — is done
 * here around the agent's dispatch, with a handler that tells the record the
 * status and the end. The mesh's own calls never come here, so their path is
 * unchanged; a pass-through call without an SDK and without an access log
 * costs one Map lookup and, inside a request, the headers' copy.
 *
 * `telemetry.propagateTo` says which of these hosts may see the trace
 * context: every one (the default, as OpenTelemetry's HTTP instrumentations
 * do), none, or a list of hosts (`*.example.com` for a suffix). A host left out
 * still gets its span; only the headers are not written. Mesh services always
 * get the context: they are the mesh.
 */
import type { Dispatcher } from 'undici';
import { hostnameMatches } from '../config/hostnames.js';
import type { CallFacts, ClientTarget } from '../telemetry/call-target.js';
import { ClientCallTelemetry } from '../telemetry/client-call.js';
import { incomingPassthrough, outgoingParent } from '../telemetry/context.js';
import type { MeshTelemetry } from '../telemetry/mesh-telemetry.js';
import { EdgeCounter } from '../telemetry/traffic.js';
import { toLegacyHandler, type LegacyHandler } from './call/legacy-handler.js';
import { getHeader, withHeaderValues } from './call/headers.js';
import { withOptions } from './call/options-copy.js';

/** true: every host; false: none; a list: these hosts (exact, or `*.example.com` for any name under it). */
export type PropagateTo = boolean | readonly string[];

interface PassthroughOrigin {
  readonly target: ClientTarget;
  readonly facts: CallFacts;
  /** Whether this host may be sent the trace context. */
  readonly propagate: boolean;
}

export class PassthroughCalls {
  readonly #t: MeshTelemetry;
  readonly #agent: Dispatcher;
  readonly #propagateTo: PropagateTo;
  readonly #byOrigin = new Map<string, PassthroughOrigin>();
  /**
   * One counter for every pass-through host, never reported: the control plane's live views are the
   * mesh's edges, and hosts outside it are unbounded in number. ClientCallTelemetry needs one to count in.
   */
  readonly #edge = new EdgeCounter();

  constructor(t: MeshTelemetry, propagateTo: PropagateTo, agent: Dispatcher) {
    this.#t = t;
    this.#propagateTo = propagateTo;
    this.#agent = agent;
  }

  /** `owned`: the options were made by the mesh for this call alone (options-copy.ts), so headers are set in place. */
  dispatch(opts: Dispatcher.DispatchOptions, handler: Dispatcher.DispatchHandler, owned: boolean): boolean {
    const t = this.#t;
    const agent = this.#agent;
    if (!t.tracing()) {
      // No SDK: the request's trace context (the one it came with, or the one the mesh started for it).
      const incoming = incomingPassthrough();
      if (t.accessLog === undefined) {
        if (incoming === undefined || !this.#origin(opts.origin).propagate || getHeader(opts.headers, 'traceparent') !== undefined) return agent.dispatch(opts, handler);
        return agent.dispatch(withHeaders(opts, incoming, owned), handler);
      }
      const o = this.#origin(opts.origin);
      const rec = new ClientCallTelemetry(t, o.target, opts.method, opts.path, undefined, incoming?.traceparent, o.facts);
      const out = incoming !== undefined && o.propagate && getHeader(opts.headers, 'traceparent') === undefined ? withHeaders(opts, incoming, owned) : opts;
      return agent.dispatch(out, new RecordedHandler(toLegacyHandler(handler), rec));
    }
    // instrumentation-undici sees the agent's requests: it makes their CLIENT span and writes their headers.
    if (t.undiciInstrumented()) return agent.dispatch(opts, handler);
    const o = this.#origin(opts.origin);
    const rec = new ClientCallTelemetry(t, o.target, opts.method, opts.path, outgoingParent(), undefined, o.facts);
    let out = opts;
    // A traceparent the application set on the call is its own decision, as on mesh calls.
    if (o.propagate && getHeader(opts.headers, 'traceparent') === undefined) {
      const headers = rec.headers();
      if (headers !== undefined) out = withHeaders(opts, headers, owned);
    }
    return agent.dispatch(out, new RecordedHandler(toLegacyHandler(handler), rec));
  }

  #origin(origin: string | URL | undefined): PassthroughOrigin {
    const key = typeof origin === 'string' ? origin : (origin?.origin ?? '');
    let o = this.#byOrigin.get(key);
    if (o === undefined) {
      const host = hostOf(key);
      o = {
        target: { destination: host, namespace: this.#t.namespace, edge: this.#edge, external: key.endsWith('/') ? key.slice(0, -1) : key },
        facts: { logical: { route: undefined, backend: undefined, attempt: 0, routeStats: undefined }, endpoint: undefined, opts: { origin: key } },
        propagate: propagates(this.#propagateTo, host),
      };
      // Origins are few in practice; the bound only guards against a caller that invents them.
      if (this.#byOrigin.size >= 10_000) this.#byOrigin.clear();
      this.#byOrigin.set(key, o);
    }
    return o;
  }
}

/** Whether `host` may be sent the trace context under `propagateTo`. */
export function propagates(propagateTo: PropagateTo, host: string): boolean {
  if (typeof propagateTo === 'boolean') return propagateTo;
  for (const pattern of propagateTo) if (hostnameMatches(pattern, host)) return true;
  return false;
}

/** The host of an origin (`https://Pay.Example.com:8443` -> `pay.example.com`, `http://[::1]:80` -> `::1`), lower case. */
export function hostOf(origin: string): string {
  const scheme = origin.indexOf('://');
  let authority = scheme < 0 ? origin : origin.slice(scheme + 3);
  const slash = authority.indexOf('/');
  if (slash >= 0) authority = authority.slice(0, slash);
  const at = authority.lastIndexOf('@');
  if (at >= 0) authority = authority.slice(at + 1);
  if (authority.startsWith('[')) {
    const end = authority.indexOf(']');
    return (end < 0 ? authority.slice(1) : authority.slice(1, end)).toLowerCase();
  }
  const colon = authority.indexOf(':');
  return (colon < 0 ? authority : authority.slice(0, colon)).toLowerCase();
}

function withHeaders(opts: Dispatcher.DispatchOptions, add: Record<string, string>, owned: boolean): Dispatcher.DispatchOptions {
  const headers = withHeaderValues(opts.headers, add);
  if (!owned) return withOptions(opts, { headers });
  opts.headers = headers;
  return opts;
}

/** The application's handler, with the call's record told the status and the end. */
class RecordedHandler implements LegacyHandler {
  readonly #h: LegacyHandler;
  readonly #rec: ClientCallTelemetry;

  constructor(h: LegacyHandler, rec: ClientCallTelemetry) {
    this.#h = h;
    this.#rec = rec;
  }

  onConnect(abort: (err?: Error) => void, context?: object): void {
    this.#h.onConnect?.(abort, context);
  }

  onResponseStarted(): void {
    this.#h.onResponseStarted?.();
  }

  onHeaders(statusCode: number, rawHeaders: Buffer[], resume: () => void, statusText: string): boolean {
    // 1xx informational answers come before the response: the call's status is the final one.
    if (statusCode >= 200) this.#rec.responded(statusCode);
    return this.#h.onHeaders?.(statusCode, rawHeaders, resume, statusText) ?? true;
  }

  onData(chunk: Buffer): boolean {
    return this.#h.onData?.(chunk) ?? true;
  }

  onComplete(trailers: string[] | Buffer[] | null): void {
    this.#rec.completed();
    this.#h.onComplete?.(trailers);
  }

  onError(err: Error): void {
    this.#rec.failed(err);
    this.#h.onError?.(err);
  }

  onUpgrade(statusCode: number, rawHeaders: Buffer[], socket: unknown): void {
    this.#rec.responded(statusCode);
    this.#rec.completed();
    this.#h.onUpgrade?.(statusCode, rawHeaders, socket);
  }
}
