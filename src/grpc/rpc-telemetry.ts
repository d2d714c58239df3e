/**
 * RPC spans and duration histograms for gRPC calls (OpenTelemetry's RPC
 * semantic conventions), on the mesh's telemetry, with the W3C trace context
 * carried in metadata as the HTTP side carries it in headers. Without an SDK
 * no span is made; under a parent the SDK would drop (unsampled, the SDK's
 * default sampler) no span is made either, and the parent's context is passed
 * on as it is.
 */
import type { Metadata, StatusObject } from '@grpc/grpc-js';
import { SpanKind, SpanStatusCode, trace, TraceFlags, type Attributes, type Context, type Span } from '@opentelemetry/api';
import type { IncomingHttpHeaders } from 'node:http';
import { extractIncoming, incomingPassthrough, outgoingHeaders, outgoingParent, passthroughHeaders, type Incoming } from '../telemetry/context.js';
import type { MeshTelemetry } from '../telemetry/mesh-telemetry.js';
import * as sc from '../telemetry/semconv.js';
import { parseRpcMethod } from './method.js';

/** The span name (`package.Service/Method`) and RPC attributes of a method path; `_OTHER` for a malformed one. */
function rpcAttributes(path: string): { name: string; attributes: Attributes } {
  const m = parseRpcMethod(path);
  return {
    name: `${m.service}/${m.method}`,
    attributes: { [sc.ATTR_RPC_SYSTEM]: 'grpc', [sc.ATTR_RPC_SERVICE]: m.service, [sc.ATTR_RPC_METHOD]: m.method },
  };
}

function setAll(metadata: Metadata, headers: Readonly<Record<string, string>> | undefined): void {
  if (headers === undefined) return;
  for (const k in headers) metadata.set(k, headers[k]!);
}

function unsampled(parent: Context): boolean {
  const psc = trace.getSpanContext(parent);
  return psc !== undefined && (psc.traceFlags & TraceFlags.SAMPLED) === 0;
}

/** The CLIENT span of a call (undefined when none is made), its trace context written into `metadata`. */
export function startClientSpan(t: MeshTelemetry, path: string, dest: { namespace: string; service: string }, metadata: Metadata): Span | undefined {
  if (!t.tracing()) {
    setAll(metadata, incomingPassthrough());
    return undefined;
  }
  const parent = outgoingParent();
  if (unsampled(parent) && t.dropsUnsampledChildren()) {
    setAll(metadata, outgoingHeaders(parent, trace.getSpan(parent)!));
    return undefined;
  }
  const { name, attributes } = rpcAttributes(path);
  attributes[sc.ATTR_SERVER_ADDRESS] = dest.service;
  attributes[sc.ATTR_HYPHAE_DESTINATION_SERVICE] = dest.service;
  attributes[sc.ATTR_HYPHAE_DESTINATION_NAMESPACE] = dest.namespace;
  if (t.service) attributes[sc.ATTR_HYPHAE_SOURCE_SERVICE] = t.service;
  const span = t.tracer.startSpan(name, { kind: SpanKind.CLIENT, attributes }, parent);
  setAll(metadata, outgoingHeaders(parent, span));
  return span;
}

/** The W3C fields of incoming metadata as the HTTP side reads headers: first string value of each. */
function traceHeaders(metadata: Metadata): IncomingHttpHeaders | undefined {
  let out: IncomingHttpHeaders | undefined;
  for (const k of ['traceparent', 'tracestate', 'baggage'] as const) {
    const v = metadata.get(k)[0];
    if (typeof v === 'string') (out ??= {})[k] = v;
  }
  return out;
}

/** What a served call runs in: its SERVER span, if one is made, and the context its handler's calls follow. */
export interface ServerTrace {
  span: Span | undefined;
  incoming: Incoming | undefined;
}

const NONE: ServerTrace = Object.freeze({ span: undefined, incoming: undefined });

export function startServerSpan(t: MeshTelemetry, path: string, metadata: Metadata): ServerTrace {
  const headers = traceHeaders(metadata);
  if (!t.tracing()) {
    // No SDK: the caller's trace context is passed on to the handler's calls (when it sent one).
    return headers?.traceparent === undefined ? NONE : { span: undefined, incoming: { context: undefined, passthrough: passthroughHeaders(headers) } };
  }
  const parent = extractIncoming(headers ?? {});
  if (unsampled(parent) && t.dropsUnsampledChildren()) return { span: undefined, incoming: { context: parent, passthrough: undefined } };
  const { name, attributes } = rpcAttributes(path);
  if (t.service) attributes[sc.ATTR_HYPHAE_SERVICE] = t.service;
  const span = t.tracer.startSpan(name, { kind: SpanKind.SERVER, attributes }, parent);
  return { span, incoming: { context: trace.setSpan(parent, span), passthrough: undefined } };
}

export function endRpcSpan(span: Span, status: Pick<StatusObject, 'code' | 'details'>): void {
  if (span.isRecording()) {
    span.setAttribute(sc.ATTR_RPC_GRPC_STATUS_CODE, status.code);
    if (status.code !== 0) span.setStatus({ code: SpanStatusCode.ERROR, message: String(status.details).slice(0, 256) });
  }
  span.end();
}

/** rpc.client.duration / rpc.server.duration (ms); nothing is built when no meter provider listens. */
export function recordRpcDuration(t: MeshTelemetry | undefined, side: 'client' | 'server', path: string, code: number, ms: number, destination?: string): void {
  if (t === undefined) return;
  const instruments = t.instruments;
  if (instruments.noop) return;
  const { attributes } = rpcAttributes(path);
  attributes[sc.ATTR_RPC_GRPC_STATUS_CODE] = code;
  if (side === 'client') {
    attributes[sc.ATTR_SERVER_ADDRESS] = destination;
    if (t.service) attributes[sc.ATTR_HYPHAE_SOURCE_SERVICE] = t.service;
    instruments.rpcClientDuration.record(ms, attributes);
  } else {
    if (t.service) attributes[sc.ATTR_HYPHAE_SERVICE] = t.service;
    instruments.rpcServerDuration.record(ms, attributes);
  }
}
