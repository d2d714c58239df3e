/**
 * W3C Trace Context (`traceparent`, `tracestate`) parsing and formatting, for
 * when no OpenTelemetry propagator is registered: the API's default
 * propagator does nothing, yet the mesh must still carry the caller's trace
 * to the services it calls. https://www.w3.org/TR/trace-context/
 */
import { TraceFlags, type SpanContext } from '@opentelemetry/api';

/** The request fields that carry trace context from hop to hop (W3C Trace Context and Baggage), lower case. */
export const W3C_FIELDS: readonly string[] = ['traceparent', 'tracestate', 'baggage'];

/**
 * Where a parsed span context keeps its `traceparent` header: a call that
 * carries the context on unchanged sends that string, already flat (a new one
 * built per call is a rope of four pieces that undici's header check must
 * copy flat first). Symbols, so JSON and Object.keys do not see them; the
 * owner is the context itself, so a copy (`{...ctx, traceFlags: 1}` carries
 * the symbols along) is told apart by one comparison, where comparing the ids
 * with the header cost ~100 ns each on sliced strings. Span contexts are
 * values: neither the API nor the SDK changes one in place.
 */
const HEADER = Symbol('hyphae.traceparent');
const OWNER = Symbol('hyphae.traceparent.owner');
type WithHeader = SpanContext & { [HEADER]?: string; [OWNER]?: object };

function withHeader(sc: WithHeader, header: string): SpanContext {
  sc[HEADER] = header;
  sc[OWNER] = sc;
  return sc;
}

/** The span context a `traceparent` names, or undefined when it is malformed (the spec says: ignore it). */
export function parseTraceparent(value: string | undefined): SpanContext | undefined {
  if (value === undefined) return undefined;
  const v = value.trim();
  return validTraceparent(v) ? contextOfValid(v) : undefined;
}

/** The span context of a traceparent already checked (validTraceparent, trimmed). */
export function contextOfValid(v: string): SpanContext {
  const sampled = sampledBit(v);
  const c = v.charCodeAt(54);
  // The header itself, when it is exactly what formatTraceparent would write for this context.
  const same = v.length === 55 && v.charCodeAt(0) === 48 && v.charCodeAt(1) === 48 && v.charCodeAt(53) === 48 && (c === 48 || c === 49);
  const sc: SpanContext = { traceId: v.slice(3, 35), spanId: v.slice(36, 52), traceFlags: sampled, isRemote: true };
  return same ? withHeader(sc, v) : sc;
}

/** The span context of an unsampled span whose traceparent is made already (a dropped root's, root-sampling.ts). */
export function unsampledContext(traceId: string, spanId: string, traceparent: string): SpanContext {
  return withHeader({ traceId, spanId, traceFlags: TraceFlags.NONE }, traceparent);
}

/** The sampled flag of a valid traceparent: the low bit of the flags' second hex digit (its char code's parity for 0-9, flipped for a-f). */
export function sampledBit(v: string): number {
  const c = v.charCodeAt(54);
  return (c <= 57 ? c : c + 1) & TraceFlags.SAMPLED;
}

/** True for a context this module parsed (and validated) or made from drawn ids: its ids need no second check. */
export function validatedHere(ctx: SpanContext): boolean {
  return (ctx as WithHeader)[OWNER] === ctx;
}

/**
 * formatTraceparent(ctx), reusing the header the context was parsed from (or
 * drawn with) when it is that very context, not a copy that may differ.
 */
export function traceparentOf(ctx: SpanContext): string {
  const c = ctx as WithHeader;
  return c[OWNER] === ctx ? c[HEADER]! : formatTraceparent(ctx);
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

/** 1 for every byte that is not a lower-case hex digit. */
const NOT_HEX = Uint8Array.from({ length: 256 }, (_, c) => ((c >= 48 && c <= 57) || (c >= 97 && c <= 102) ? 0 : 1));

/**
 * A table lookup per character, and no branch on it: random ids mix digits
 * and letters, and a digit-or-letter test mispredicts on about every other
 * character (240 ns against 100 ns for a header, measured on headers node's
 * parser made).
 */
function hexRun(v: string, from: number, to: number): boolean {
  let bad = 0;
  for (let i = from; i < to; i++) {
    const c = v.charCodeAt(i);
    bad |= NOT_HEX[c & 255]! | (c >> 8);
  }
  return bad === 0;
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
