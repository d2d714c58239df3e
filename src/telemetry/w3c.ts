/**
 * W3C Trace Context (`traceparent`, `tracestate`) parsing and formatting, for
 * when no OpenTelemetry propagator is registered: the API's default
 * propagator does nothing, yet the mesh must still carry the caller's trace
 * to the services it calls. https://www.w3.org/TR/trace-context/
 */
import { TraceFlags, type SpanContext } from '@opentelemetry/api';

/**
 * Where a parsed span context keeps its `traceparent` header: a call that
 * carries the context on unchanged sends that string, already flat (a new one
 * built per call is a rope of four pieces that undici's header check must
 * copy flat first). A symbol, so JSON and Object.keys do not see it.
 */
const HEADER = Symbol('hyphae.traceparent');

/** The span context a `traceparent` names, or undefined when it is malformed (the spec says: ignore it). */
export function parseTraceparent(value: string | undefined): SpanContext | undefined {
  if (value === undefined) return undefined;
  const v = value.trim();
  if (!validTraceparent(v)) return undefined;
  const sampled = sampledBit(v);
  const c = v.charCodeAt(54);
  // The header itself, when it is exactly what formatTraceparent would write for this context.
  const same = v.length === 55 && v.charCodeAt(0) === 48 && v.charCodeAt(1) === 48 && v.charCodeAt(53) === 48 && (c === 48 || c === 49);
  const sc: SpanContext & { [HEADER]?: string | undefined } = { traceId: v.slice(3, 35), spanId: v.slice(36, 52), traceFlags: sampled, isRemote: true, [HEADER]: same ? v : undefined };
  return sc;
}

/** The span context of an unsampled span whose traceparent is made already (a dropped root's, root-sampling.ts). */
export function unsampledContext(traceId: string, spanId: string, traceparent: string): SpanContext {
  const sc: SpanContext & { [HEADER]?: string | undefined } = { traceId, spanId, traceFlags: TraceFlags.NONE, [HEADER]: traceparent };
  return sc;
}

/** The sampled flag of a valid traceparent: the low bit of the flags' second hex digit (its char code's parity for 0-9, flipped for a-f). */
export function sampledBit(v: string): number {
  const c = v.charCodeAt(54);
  return (c <= 57 ? c : c + 1) & TraceFlags.SAMPLED;
}

/**
 * formatTraceparent(ctx), reusing the header the context was parsed from when
 * there is one and it still says the same (a copy made with `{...ctx}` and
 * other flags or ids carries the symbol along).
 */
export function traceparentOf(ctx: SpanContext): string {
  const h = (ctx as { [HEADER]?: string })[HEADER];
  if (
    h !== undefined &&
    ((h.charCodeAt(54) ^ ctx.traceFlags) & 1) === 0 &&
    ctx.traceId.length === 32 &&
    ctx.spanId.length === 16 &&
    h.startsWith(ctx.traceId, 3) &&
    h.startsWith(ctx.spanId, 36)
  )
    return h;
  return formatTraceparent(ctx);
}

/**
 * Whether a traceparent is well formed, checked in place without building a
 * span context or substrings: the no-SDK pass-through runs it per request.
 */
export function validTraceparent(v: string): boolean {
  const n = v.length;
  if (n < 55 || v.charCodeAt(2) !== 45 || v.charCodeAt(35) !== 45 || v.charCodeAt(52) !== 45) return false;
  if (!hexRun(v, 0, 2) || (v.charCodeAt(0) === 102 && v.charCodeAt(1) === 102)) return false; // version ff is invalid
  const v00 = v.charCodeAt(0) === 48 && v.charCodeAt(1) === 48;
  if (v00 ? n !== 55 : n > 55 && v.charCodeAt(55) !== 45) return false;
  return hexRun(v, 3, 35) && hexRun(v, 36, 52) && hexRun(v, 53, 55) && !zeroRun(v, 3, 35) && !zeroRun(v, 36, 52);
}

function hexRun(v: string, from: number, to: number): boolean {
  for (let i = from; i < to; i++) {
    const c = v.charCodeAt(i);
    if (!((c >= 48 && c <= 57) || (c >= 97 && c <= 102))) return false;
  }
  return true;
}

function zeroRun(v: string, from: number, to: number): boolean {
  for (let i = from; i < to; i++) if (v.charCodeAt(i) !== 48) return false;
  return true;
}

export function formatTraceparent(ctx: SpanContext): string {
  return `00-${ctx.traceId}-${ctx.spanId}-0${ctx.traceFlags & TraceFlags.SAMPLED ? '1' : '0'}`;
}

/** First value of a header from node's IncomingHttpHeaders (string, or string[] for repeated ones). */
export function headerValue(v: string | string[] | undefined): string | undefined {
  return Array.isArray(v) ? v[0] : v;
}

/** tracestate and baggage may be split over several header lines: join them as the spec says. */
export function joinedHeader(v: string | string[] | undefined): string | undefined {
  return Array.isArray(v) ? v.join(',') : v;
}
