/**
 * Trace context in and out of the mesh, with or without an OpenTelemetry SDK.
 *
 * With an SDK (a tracer provider, or at least a propagator) this is the API
 * doing its job: extract, a span, inject. Without one, the API's defaults do
 * nothing — `extract`/`inject` are no-ops and `context.active()` is always the
 * root — and making spans nobody records would only cost time. The mesh then
 * checks the incoming `traceparent` (and `tracestate`, tracestate.ts) itself,
 * starts a trace when none valid came (freshTraceparent), keeps the W3C
 * headers in its own AsyncLocalStorage for the life of the request handler,
 * and writes them on the calls the handler makes: a pass-through, so the
 * trace stays whole across services that do run an SDK.
 */
import { AsyncLocalStorage } from 'node:async_hooks';
import type { IncomingHttpHeaders } from 'node:http';
import {
  context,
  createContextKey,
  createTraceState,
  INVALID_SPAN_CONTEXT,
  isSpanContextValid,
  propagation,
  ProxyTracerProvider,
  ROOT_CONTEXT,
  trace,
  type Context,
  type ContextManager,
  type Span,
  type TextMapPropagator,
} from '@opentelemetry/api';
import { RootSampling } from './root-sampling.js';
import { sanitizeTracestate } from './tracestate.js';
import { contextOfValid, headerValue, joinedHeader, parseTraceparent, sampledBit, traceparentOf, validatedHere, validTraceparent } from './w3c.js';

/** tracestate (checked, tracestate.ts) and baggage as received, for when no propagator re-serializes them. */
const RAW_TRACESTATE = createContextKey('hyphae.raw-tracestate');
const RAW_BAGGAGE = createContextKey('hyphae.raw-baggage');

/** What a request handler runs with: the OTel context (SDK), or the headers to pass on (no SDK). */
export interface Incoming {
  context: Context | undefined;
  passthrough: Record<string, string> | undefined;
}

const incoming = new AsyncLocalStorage<Incoming>();

/** @opentelemetry/core's suppressTracing key (context keys are Symbol.for(description)). */
export const SUPPRESS_TRACING = createContextKey('OpenTelemetry SDK Context Key SUPPRESS_TRACING');

/**
 * Run `fn` with tracing suppressed (the key the SDK and its instrumentations
 * honour): for the mesh's own traffic, which is not the application's. With
 * nothing registered with the API, there is nothing to suppress.
 */
export function untraced<T>(fn: () => T): T {
  return apiInUse() ? context.with(activeContext().setValue(SUPPRESS_TRACING, true), fn) : fn();
}

// ProxyTracerProvider.getDelegate() answers the API's no-op provider when nothing is registered.
const NOOP_TRACER_PROVIDER = new ProxyTracerProvider().getDelegate();

/**
 * Where @opentelemetry/api 1.x keeps what is registered with it (tracer and
 * meter providers, propagator, context manager, diag logger): one object on
 * `globalThis`, created by the first registration of anything. Its absence is
 * the cheapest possible proof that no SDK is there — one property read — so
 * the no-SDK path asks nothing else of the API. The key is the API's own
 * (`internal/global-utils`), the same in every 1.x release, and shared by
 * every copy of the API in the process, which is the point of it.
 */
const API_GLOBAL = Symbol.for('opentelemetry.js.api.1');
type ApiGlobals = { context?: unknown; trace?: unknown; propagation?: unknown; metrics?: unknown } | undefined;

/** False until anything at all is registered with the OpenTelemetry API in this process. */
export function apiInUse(): boolean {
  return (globalThis as { [API_GLOBAL]?: ApiGlobals })[API_GLOBAL] !== undefined;
}

/** The registered global meter provider (the API keeps the application's own object), or undefined. */
export function registeredMeterProvider(): unknown {
  return (globalThis as { [API_GLOBAL]?: ApiGlobals })[API_GLOBAL]?.metrics;
}

/** The active context, read from the registered context manager directly (context.active() checks the API's version on every call). */
export function activeContext(): Context {
  const cm = (globalThis as { [API_GLOBAL]?: ApiGlobals })[API_GLOBAL]?.context as ContextManager | undefined;
  return cm === undefined ? ROOT_CONTEXT : cm.active();
}

/**
 * True when an SDK is there to use: a registered tracer provider, or a
 * propagator. Checked per request, so an SDK started after createMesh() is
 * picked up; with nothing registered it is one property read (apiInUse).
 */
export function sdkActive(): boolean {
  const g = (globalThis as { [API_GLOBAL]?: ApiGlobals })[API_GLOBAL];
  if (g === undefined) return false;
  // Read where the API keeps them rather than through trace.getTracerProvider(), whose version check
  // costs more than the rest of this function; the API registers a provider there only with a delegate.
  const provider = g.trace;
  if (provider !== undefined) return provider instanceof ProxyTracerProvider ? provider.getDelegate() !== NOOP_TRACER_PROVIDER : provider !== NOOP_TRACER_PROVIDER;
  return g.propagation !== undefined && propagation.fields().length > 0;
}

const W3C_PROPAGATORS = new Set(['W3CTraceContextPropagator', 'W3CBaggagePropagator']);
let checkedPropagator: unknown = null;
let checkedW3c = false;

/**
 * True when what the registered propagator would write and read is exactly
 * what the mesh's own W3C code does: none registered (the API's no-op, our
 * writer is the whole story), or the SDK's default W3C trace-context and
 * baggage pair. The mesh then skips the API's propagation calls (a version
 * check, a composite loop and a context per call) on every request; any
 * other propagator (B3, Jaeger, a custom one) goes through the API. Known by
 * class name, so a minified or wrapped propagator takes the general path.
 * Checked once per registered propagator object.
 */
function w3cPropagation(): boolean {
  const p = (globalThis as { [API_GLOBAL]?: ApiGlobals })[API_GLOBAL]?.propagation as TextMapPropagator | undefined;
  if (p === undefined) return true;
  if (p !== checkedPropagator) {
    checkedPropagator = p;
    const name = (x: unknown) => (x as { constructor?: { name?: string } } | null)?.constructor?.name ?? '';
    const parts = name(p) === 'CompositePropagator' ? (p as unknown as { _propagators?: unknown[] })._propagators : [p];
    checkedW3c = Array.isArray(parts) && parts.every((x) => W3C_PROPAGATORS.has(name(x)));
  }
  return checkedW3c;
}

let freshRoots: RootSampling | undefined;

/**
 * A new trace for a request that arrived without a valid traceparent (no
 * SDK): `00-<random trace id>-<random span id>-00`. Not sampled, since
 * nothing here records it; its one use is that every hop's access log,
 * handler (getTraceId) and logs name the same request. Ids from the root
 * pool (root-sampling.ts): a slice of one flat string, no allocation per id.
 */
export function freshTraceparent(): string {
  return (freshRoots ??= RootSampling.unsampledOnly()).draw().traceparent;
}

/**
 * The W3C headers to pass on (no SDK): the incoming traceparent when valid,
 * else a fresh unsampled one (freshTraceparent); a valid tracestate with the
 * incoming traceparent only; baggage as it came.
 */
export function passthroughHeaders(headers: IncomingHttpHeaders): Record<string, string> {
  const tp = headerValue(headers.traceparent);
  const baggage = headers.baggage === undefined ? undefined : joinedHeader(headers.baggage);
  const valid = tp !== undefined && validTraceparent(tp);
  const out: Record<string, string> = { traceparent: valid ? tp.trim() : freshTraceparent() };
  if (valid) {
    // Never forwarded raw: a list the spec calls invalid is not sent at all (tracestate.ts).
    const ts = headers.tracestate === undefined ? undefined : sanitizeTracestate(joinedHeader(headers.tracestate));
    if (ts !== undefined) out.tracestate = ts;
  }
  if (baggage) out.baggage = baggage;
  return out;
}

/** The API's key for the active span (context keys are `Symbol.for(description)`; checked below). */
const SPAN_KEY = createContextKey('OpenTelemetry Context Key SPAN');

/**
 * The root context with one span in it: what a request from a traced caller
 * runs in. The API's contexts copy a Map per value set; this is one small
 * object. Anything set on it makes an ordinary context of the same content.
 */
abstract class OneSpanOnRoot implements Context {
  abstract get span(): Span;
  getValue(key: symbol): unknown {
    return key === SPAN_KEY ? this.span : undefined;
  }
  setValue(key: symbol, value: unknown): Context {
    return ROOT_CONTEXT.setValue(SPAN_KEY, this.span).setValue(key, value);
  }
  deleteValue(key: symbol): Context {
    return key === SPAN_KEY ? ROOT_CONTEXT : this;
  }
}

class SpanOnRoot extends OneSpanOnRoot {
  readonly span: Span;
  constructor(span: Span) {
    super();
    this.span = span;
  }
}

/** Whether the API reads spans where SpanOnRoot keeps them (a changed key: every context is the API's own). */
const SPAN_ON_ROOT = trace.getSpan(new SpanOnRoot(trace.wrapSpanContext(INVALID_SPAN_CONTEXT))) !== undefined;

/** `trace.setSpan(ROOT_CONTEXT, span)`, without the Map. */
export function rootWithSpan(span: Span): Context {
  return SPAN_ON_ROOT ? new SpanOnRoot(span) : trace.setSpan(ROOT_CONTEXT, span);
}

/**
 * The context of a request whose caller sent a traceparent and nothing else
 * to read (W3C propagation, no tracestate or baggage): the root context with
 * the caller's span in it, made when something first reads it. A handler that
 * calls nobody and reads no context never has the span context, its two id
 * strings or the span around it built; what the mesh needs at once, the
 * sampled flag, is read from the header.
 */
export class RemoteParent extends OneSpanOnRoot {
  /** The caller's sampled flag. */
  readonly sampled: boolean;
  readonly #header: string;
  #span: Span | undefined = undefined;
  /** `header`: a valid traceparent, trimmed (checked by the caller, not again here). */
  constructor(header: string) {
    super();
    this.#header = header;
    this.sampled = sampledBit(header) !== 0;
  }
  get span(): Span {
    return (this.#span ??= trace.wrapSpanContext(contextOfValid(this.#header)));
  }
}

/** The context a request arrived with: the registered propagator's reading, else our own W3C parse. */
export function extractIncoming(headers: IncomingHttpHeaders): Context {
  if (SPAN_ON_ROOT && headers.baggage === undefined && headers.tracestate === undefined && w3cPropagation()) {
    const tp = headerValue(headers.traceparent);
    const v = tp?.trim();
    return v !== undefined && validTraceparent(v) ? new RemoteParent(v) : ROOT_CONTEXT;
  }
  // W3C propagation and no baggage: the parse below is what the propagator would do.
  let ctx = w3cPropagation() && headers.baggage === undefined ? ROOT_CONTEXT : propagation.extract(ROOT_CONTEXT, headers);
  if (trace.getSpanContext(ctx) === undefined) {
    const parent = parseTraceparent(headerValue(headers.traceparent));
    if (parent) {
      const ts = headers.tracestate === undefined ? undefined : sanitizeTracestate(joinedHeader(headers.tracestate));
      if (ts !== undefined) {
        parent.traceState = createTraceState(ts);
        ctx = ctx.setValue(RAW_TRACESTATE, ts);
      }
      ctx = trace.setSpanContext(ctx, parent);
    }
  }
  if (propagation.getBaggage(ctx) === undefined) {
    const raw = joinedHeader(headers.baggage);
    if (raw) ctx = ctx.setValue(RAW_BAGGAGE, raw);
  }
  return ctx;
}

/**
 * Run `fn(a, b)` as the handler of a request: with `state.context` active in
 * the API (a real context manager carries it into async work) and `state` in
 * our own storage (which does, even when no context manager is registered).
 * With a registered context manager the API's context is enough: our own
 * storage would be a second AsyncLocalStorage run per request for nothing.
 */
export function runIncoming<A, B>(state: Incoming, fn: (a: A, b: B) => void, a: A, b: B): void {
  if (state.context === undefined) return incoming.run(state, fn, a, b);
  // The registered manager directly: context.with() would check the API's version first, per request.
  const cm = (globalThis as { [API_GLOBAL]?: ApiGlobals })[API_GLOBAL]?.context as ContextManager | undefined;
  if (cm !== undefined) cm.with(state.context, fn, undefined, a, b);
  else context.with(state.context, runStored, undefined, state, fn, a, b);
}

function runStored<A, B>(state: Incoming, fn: (a: A, b: B) => void, a: A, b: B): void {
  incoming.run(state, fn, a, b);
}

/**
 * The parent of an outgoing mesh call: the active context when it carries a
 * span (an SDK's context manager at work), else the context of the request
 * being handled, else the active (root) context.
 */
export function outgoingParent(): Context {
  const active = activeContext();
  if (trace.getSpan(active) !== undefined) return active;
  return incoming.getStore()?.context ?? active;
}

/**
 * outgoingHeaders for a root the sampler dropped, from its traceparent alone
 * (root-sampling.ts): no span is made for it. Undefined when a propagator other
 * than W3C's, or baggage, needs the span's context (then outgoingHeaders).
 */
export function droppedRootHeaders(parent: Context, traceparent: string): Record<string, string> | undefined {
  return w3cPropagation() && propagation.getBaggage(parent) === undefined ? w3cHeaders(parent, traceparent, undefined) : undefined;
}

/** Our W3C writer: the traceparent, the span's tracestate or the one that came in, and baggage as it came in. */
function w3cHeaders(parent: Context, traceparent: string | undefined, traceState: string | undefined): Record<string, string> {
  const carrier: Record<string, string> = {};
  if (traceparent !== undefined) {
    carrier.traceparent = traceparent;
    // The span's tracestate is the SDK's reading (a sampler may have changed it): checked again, since
    // an SDK's parser keeps lists the spec refuses (a 33rd member truncated, not the list discarded).
    const ts = (traceState ? sanitizeTracestate(traceState) : undefined) ?? (parent.getValue(RAW_TRACESTATE) as string | undefined);
    if (ts !== undefined) carrier.tracestate = ts;
  }
  const raw = parent.getValue(RAW_BAGGAGE) as string | undefined;
  if (raw) carrier.baggage = raw;
  return carrier;
}

/** No SDK: the incoming request's W3C headers, to put on a call made while handling it. */
export function incomingPassthrough(): Record<string, string> | undefined {
  return incoming.getStore()?.passthrough;
}

/**
 * The propagation headers for a call made as `span`, a child of `parent`:
 * whatever the registered propagator writes, completed by our own W3C writer
 * for what it did not. With W3C propagation and no baggage to encode, our
 * writer alone, from the span, without making the call's context.
 * `checked`: the caller has just checked the span's ids (a parent it carries on).
 */
export function outgoingHeaders(parent: Context, span: Span, checked = false): Record<string, string> {
  if (w3cPropagation() && propagation.getBaggage(parent) === undefined) {
    const sc = span.spanContext();
    return checked || validatedHere(sc) || isSpanContextValid(sc) ? w3cHeaders(parent, traceparentOf(sc), sc.traceState?.serialize()) : w3cHeaders(parent, undefined, undefined);
  }
  const carrier: Record<string, string> = {};
  const ctx = trace.setSpan(parent, span);
  propagation.inject(ctx, carrier);
  if (carrier.traceparent === undefined) {
    const sc = trace.getSpanContext(ctx);
    if (sc !== undefined && isSpanContextValid(sc)) {
      carrier.traceparent = traceparentOf(sc);
      const serialized = sc.traceState?.serialize();
      const ts = (serialized ? sanitizeTracestate(serialized) : undefined) ?? (ctx.getValue(RAW_TRACESTATE) as string | undefined);
      if (ts !== undefined) carrier.tracestate = ts;
    }
  } else if (carrier.tracestate !== undefined) {
    // What another propagator wrote from its own reading of the incoming list: sent only if valid.
    const ts = sanitizeTracestate(carrier.tracestate);
    if (ts === undefined) delete carrier.tracestate;
    else carrier.tracestate = ts;
  }
  if (carrier.baggage === undefined) {
    const raw = ctx.getValue(RAW_BAGGAGE) as string | undefined;
    if (raw) carrier.baggage = raw;
  }
  return carrier;
}
