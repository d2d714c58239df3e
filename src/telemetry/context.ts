/**
 * Trace context in and out of the mesh, with or without an OpenTelemetry SDK.
 *
 * With an SDK (tracer provider, context manager, W3C propagators) this is the
 * API doing its job. Without one, the API's defaults do nothing: `extract` and
 * `inject` are no-ops and `context.active()` is always the root. The mesh then
 * parses `traceparent` itself, keeps the incoming context in its own
 * AsyncLocalStorage for the life of the request handler, and writes the same
 * `traceparent`, `tracestate` and `baggage` on the calls the handler makes: a
 * pass-through, so the trace stays whole across services that do run an SDK.
 */
import { AsyncLocalStorage } from 'node:async_hooks';
import type { IncomingHttpHeaders } from 'node:http';
import {
  context,
  createContextKey,
  createTraceState,
  isSpanContextValid,
  propagation,
  ROOT_CONTEXT,
  trace,
  type Context,
} from '@opentelemetry/api';
import { formatTraceparent, headerValue, joinedHeader, parseTraceparent } from './w3c.js';

/** tracestate and baggage exactly as received, for when no propagator re-serializes them. */
const RAW_TRACESTATE = createContextKey('hyphae.raw-tracestate');
const RAW_BAGGAGE = createContextKey('hyphae.raw-baggage');

const incoming = new AsyncLocalStorage<Context>();

/** The context a request arrived with: the registered propagator's reading, else our own W3C parse. */
export function extractIncoming(headers: IncomingHttpHeaders): Context {
  let ctx = propagation.extract(ROOT_CONTEXT, headers);
  if (trace.getSpanContext(ctx) === undefined) {
    const parent = parseTraceparent(headerValue(headers.traceparent));
    if (parent) {
      const ts = joinedHeader(headers.tracestate);
      if (ts) {
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
 * Run `fn(req, res)` with `ctx` active: in the API's context (a real context
 * manager propagates it into async work) and in our own storage (which does,
 * even when no context manager is registered).
 */
export function runWithContext<A, B>(ctx: Context, fn: (a: A, b: B) => void, a: A, b: B): void {
  context.with(ctx, runIncoming, undefined, ctx, fn, a, b);
}

function runIncoming<A, B>(ctx: Context, fn: (a: A, b: B) => void, a: A, b: B): void {
  incoming.run(ctx, fn, a, b);
}

/**
 * The parent of an outgoing mesh call: the active context when it carries a
 * span (an SDK's context manager at work), else the context of the request
 * being handled (no SDK: our own storage), else the active (root) context.
 */
export function outgoingParent(): Context {
  const active = context.active();
  if (trace.getSpan(active) !== undefined) return active;
  return incoming.getStore() ?? active;
}

/** The incoming request's context, when inside a handler the mesh runs (diagnostics, tests). */
export function incomingContext(): Context | undefined {
  return incoming.getStore();
}

/**
 * The propagation headers for a call made in `ctx`: whatever the registered
 * propagator writes, completed by our own W3C writer for what it did not.
 */
export function outgoingHeaders(ctx: Context): Record<string, string> {
  const carrier: Record<string, string> = {};
  propagation.inject(ctx, carrier);
  if (carrier.traceparent === undefined) {
    const sc = trace.getSpanContext(ctx);
    if (sc !== undefined && isSpanContextValid(sc)) {
      carrier.traceparent = formatTraceparent(sc);
      const ts = sc.traceState?.serialize() || (ctx.getValue(RAW_TRACESTATE) as string | undefined);
      if (ts) carrier.tracestate = ts;
    }
  }
  if (carrier.baggage === undefined) {
    const raw = ctx.getValue(RAW_BAGGAGE) as string | undefined;
    if (raw) carrier.baggage = raw;
  }
  return carrier;
}
