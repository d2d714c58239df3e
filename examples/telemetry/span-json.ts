/** A finished span as JSON, with what a test needs to rebuild a trace across processes. */
import type { ReadableSpan } from '@opentelemetry/sdk-trace-base';

export interface SpanJson {
  name: string;
  kind: number;
  traceId: string;
  spanId: string;
  parentSpanId: string | undefined;
  parentIsRemote: boolean | undefined;
  scope: string;
  service: string;
  attributes: Record<string, unknown>;
  events: { name: string; attributes: Record<string, unknown> }[];
  status: { code: number; message?: string | undefined };
}

export function spanToJson(s: ReadableSpan, service: string): SpanJson {
  return {
    name: s.name,
    kind: s.kind,
    traceId: s.spanContext().traceId,
    spanId: s.spanContext().spanId,
    parentSpanId: s.parentSpanContext?.spanId,
    parentIsRemote: s.parentSpanContext?.isRemote,
    scope: s.instrumentationScope.name,
    service,
    attributes: { ...s.attributes },
    events: s.events.map((e) => ({ name: e.name, attributes: { ...e.attributes } })),
    status: { code: s.status.code, message: s.status.message },
  };
}
