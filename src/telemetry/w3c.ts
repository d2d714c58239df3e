/**
 * W3C Trace Context (`traceparent`, `tracestate`) parsing and formatting, for
 * when no OpenTelemetry propagator is registered: the API's default
 * propagator does nothing, yet the mesh must still carry the caller's trace
 * to the services it calls. https://www.w3.org/TR/trace-context/
 */
import { TraceFlags, type SpanContext } from '@opentelemetry/api';

const HEX = /^[0-9a-f]+$/;
const ZERO_TRACE = '00000000000000000000000000000000';
const ZERO_SPAN = '0000000000000000';

/** The span context a `traceparent` names, or undefined when it is malformed (the spec says: ignore it). */
export function parseTraceparent(value: string | undefined): SpanContext | undefined {
  if (value === undefined) return undefined;
  const v = value.trim();
  // version "00" is exactly 55 chars; a later version may append fields after a dash.
  if (v.length < 55 || v.charCodeAt(2) !== 45 || v.charCodeAt(35) !== 45 || v.charCodeAt(52) !== 45) return undefined;
  const version = v.slice(0, 2);
  if (!HEX.test(version) || version === 'ff' || (version === '00' && v.length !== 55)) return undefined;
  if (v.length > 55 && v.charCodeAt(55) !== 45) return undefined;
  const traceId = v.slice(3, 35);
  const spanId = v.slice(36, 52);
  const flags = v.slice(53, 55);
  if (!HEX.test(traceId) || !HEX.test(spanId) || !HEX.test(flags)) return undefined;
  if (traceId === ZERO_TRACE || spanId === ZERO_SPAN) return undefined;
  return { traceId, spanId, traceFlags: parseInt(flags, 16) & TraceFlags.SAMPLED, isRemote: true };
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
