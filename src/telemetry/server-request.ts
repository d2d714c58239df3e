/**
 * The telemetry of one request a wrapped server handles: its SERVER span (or
 * the one @opentelemetry/instrumentation-http already made, enriched), and
 * what is recorded when the response is done (duration metric, inbound stats,
 * access log line).
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { TLSSocket } from 'node:tls';
import { createContextKey, INVALID_SPAN_CONTEXT, ROOT_CONTEXT, SpanKind, SpanStatusCode, TraceFlags, trace, type Attributes, type Context, type Span } from '@opentelemetry/api';
import { classifyStatus } from '../core/classifier.js';
import { pathOnly, writeAccessLog } from './access-log.js';
import { activeContext, apiInUse, extractIncoming, passthroughHeaders, RemoteParent, rootWithSpan, SUPPRESS_TRACING, type Incoming } from './context.js';
import type { MeshTelemetry } from './mesh-telemetry.js';
import * as sc from './semconv.js';
import { droppedRootSpan } from './root-sampling.js';

/**
 * Where HTTP server instrumentations (instrumentation-http, and express & co.
 * after it) keep the request's span and route: @opentelemetry/core's
 * RPC_METADATA key. Context keys are `Symbol.for(description)`, so the same
 * key is made here without depending on @opentelemetry/core.
 */
const RPC_METADATA = createContextKey('OpenTelemetry SDK Context Key RPC_METADATA');

interface RpcMetadata {
  type?: string;
  span?: Span;
  route?: string;
}

/** The verified caller, when mTLS says who it is. */
export interface PeerInfo {
  /** SPIFFE ID */
  id: string;
  service?: string | undefined;
}

const kRecord = Symbol('hyphae.server-request');
type Tracked = IncomingMessage & { [kRecord]?: ServerRequestTelemetry };
const NO_SPAN = trace.wrapSpanContext(INVALID_SPAN_CONTEXT);

/** The route template the application handled this request with (e.g. `/items/:id`): named in spans, metrics and logs. */
export function setServerRoute(req: IncomingMessage, route: string): void {
  (req as Tracked)[kRecord]?.setRoute(route);
}

/** The route template the application named for this request (setServerRoute), if it did: for `hyphae tap`. */
export function serverRoute(req: IncomingMessage): string | undefined {
  return (req as Tracked)[kRecord]?.route;
}

/**
 * The trace id of a request a wrapped server handles: its span's (with an
 * SDK), else the one it arrived with or the fresh one the mesh started for it
 * (no SDK, context.ts passthroughHeaders). Undefined for a request the mesh
 * does not track (telemetry off, or an HTTP instrumentation told to ignore it).
 */
export function getTraceId(req: IncomingMessage): string | undefined {
  return (req as Tracked)[kRecord]?.traceId;
}

/**
 * The W3C headers (`traceparent`, and `tracestate` and `baggage` when they
 * came) that the calls made for a no-SDK request carry: the incoming trace
 * when valid, else the fresh one the mesh started (context.ts
 * passthroughHeaders). For a handler that sets them on its calls itself
 * (passesTraceItself). Undefined with an SDK (the request's context carries
 * the trace) and for a request the mesh does not track.
 */
export function incomingTraceHeaders(req: IncomingMessage): Readonly<Record<string, string>> | undefined {
  return (req as Tracked)[kRecord]?.passthrough;
}

const kPassesTrace = Symbol('hyphae.passes-trace-itself');
type Marked = { [kPassesTrace]?: true };

/**
 * Declares that `server`'s request handler puts each request's trace headers
 * on the calls it makes itself (incomingTraceHeaders), so that with no SDK
 * the inbound telemetry need not run it inside the AsyncLocalStorage that
 * carries them to calls made anywhere in an application's handler. That
 * storage's first use turns on promise hooks for the whole process (Node 20
 * and 22), a cost on every promise from then on: for the gateway, whose
 * handler is the mesh's own forwarder, about 4 % of its CPU.
 */
export function passTraceItself(server: object): void {
  (server as Marked)[kPassesTrace] = true;
}

/** Whether the request came through a server marked with passTraceItself (its socket's server; a socket without one is not). */
export function passesTraceItself(req: IncomingMessage): boolean {
  return ((req.socket as { server?: Marked } | null)?.server?.[kPassesTrace] ?? false) === true;
}

/**
 * The 'close' listener of every tracked response (one function for all:
 * 'close' comes after 'finish' for a complete response, alone when the
 * connection died first). The record hangs on the request (`res.req`).
 */
export function onResponseClose(this: ServerResponse): void {
  (this.req as Tracked | undefined)?.[kRecord]?.finish(this, this.writableFinished);
}

/** How the verified caller of a request is found (the server's getPeer): asked only when something uses it. */
export type PeerLookup = (req: IncomingMessage) => PeerInfo | undefined;

export class ServerRequestTelemetry implements Incoming {
  /** The request's span; undefined while a carried-on caller's span has not been read (spanless). */
  #span: Span | undefined;
  readonly req: IncomingMessage;
  /** Incoming, for context.ts runIncoming: the SDK context the application runs in... */
  readonly context: Context | undefined;
  /** ...or, with no SDK, the W3C headers its calls pass on. */
  readonly passthrough: Record<string, string> | undefined;
  /** false: the span belongs to an HTTP instrumentation that ends it; we only add the mesh's attributes. */
  readonly owned: boolean;
  route: string | undefined = undefined;
  #t: MeshTelemetry;
  #rpc: RpcMetadata | undefined = undefined;
  #start: number;
  #peerOf: PeerLookup | undefined;
  #peer: PeerInfo | undefined = undefined;
  /** The span is the caller's (an unsampled parent whose children the sampler drops): not this request's. */
  #spanless = false;
  /** An HTTP server instrumentation handled this request (its span, or its ignore hook): it records the duration metric. */
  #instrumented = false;
  #done = false;

  constructor(t: MeshTelemetry, req: IncomingMessage, peerOf?: PeerLookup) {
    this.#t = t;
    this.req = req;
    this.#peerOf = peerOf;
    this.#start = performance.now();
    t.traffic.inbound.inflight++;
    (req as Tracked)[kRecord] = this;
    // Nothing registered with the OpenTelemetry API and no tracer of the mesh's own: no instrumentation can
    // have made a span, nothing can record one. Only the W3C headers to pass on, checked in place.
    if (!t.ownTracer && !apiInUse()) {
      this.owned = false;
      this.#span = NO_SPAN;
      this.context = undefined;
      this.passthrough = passthroughHeaders(req.headers);
      return;
    }
    const active = activeContext();
    const rpc = active.getValue(RPC_METADATA) as RpcMetadata | undefined;
    // Only a span an HTTP instrumentation marked as this request's: any other active span may be a leftover
    // of the context server.listen() ran in, which every connection inherits.
    const existing = rpc?.span;
    if (existing !== undefined) {
      // An HTTP server instrumentation already made this request's span: one SERVER span per request. The
      // handler runs in its context; a recording span gets the mesh's attributes. An unsampled one stays
      // the request's span: a span of our own would be a second root, sampled again (a 1 % sampler would
      // keep 2 % of requests, as traces without the instrumentation's span).
      this.#rpc = rpc;
      this.#instrumented = true;
      this.owned = false;
      this.#span = existing;
      if (existing.isRecording()) existing.setAttributes(this.#meshAttrs());
      this.context = active;
      this.passthrough = undefined;
    } else if (active.getValue(SUPPRESS_TRACING) === true) {
      // The instrumentation was told to ignore this request (ignoreIncomingRequestHook) and runs it with
      // tracing suppressed: no span of ours either, and the handler stays in that context.
      this.#instrumented = true;
      this.owned = false;
      this.#span = NO_SPAN;
      this.context = undefined;
      this.passthrough = undefined;
    } else if (t.tracing()) {
      const parent = extractIncoming(req.headers);
      const remote = parent instanceof RemoteParent ? parent : undefined;
      const psc = remote === undefined ? trace.getSpanContext(parent) : undefined;
      const unsampled = remote !== undefined ? !remote.sampled : psc !== undefined && (psc.traceFlags & TraceFlags.SAMPLED) === 0;
      if (unsampled && t.dropsUnsampledChildren()) {
        // The tracer would make a span that records nothing: the handler runs in the caller's context, whose
        // span is made only if something reads it (the access log here, a call the handler makes).
        this.#spanless = true;
        this.owned = false;
        this.#span = undefined;
        this.context = parent;
        this.passthrough = undefined;
        return;
      }
      // A root: settled here with the SDK's common sampler; one it drops is a non-recording span (root-sampling.ts).
      const roots = remote === undefined && psc === undefined ? t.rootSampling() : undefined;
      const ids = roots?.draw();
      if (ids !== undefined && !ids.sampled) {
        this.owned = false;
        this.#span = droppedRootSpan(ids.traceparent);
        this.context = parent === ROOT_CONTEXT ? rootWithSpan(this.span) : trace.setSpan(parent, this.span);
        this.passthrough = undefined;
        return;
      }
      this.owned = true;
      const method = sc.normalizeMethod(req.method);
      const name = method === '_OTHER' ? 'HTTP' : method;
      const options = { kind: SpanKind.SERVER, attributes: this.#spanAttrs(req, method) };
      this.#span = ids !== undefined ? roots!.start(t.tracer, name, options, parent, ids) : t.tracer.startSpan(name, options, parent);
      if (this.#span.isRecording()) this.#span.setAttributes(this.#recordedAttrs(req));
      this.context = trace.setSpan(parent, this.#span);
      this.passthrough = undefined;
    } else {
      // No SDK: no span (nobody would record it), only the W3C headers to pass on.
      this.owned = false;
      this.#span = NO_SPAN;
      this.context = undefined;
      this.passthrough = passthroughHeaders(req.headers);
    }
  }

  /** The request's span: its own, an HTTP instrumentation's, or (spanless) the caller's, carried on. */
  get span(): Span {
    return (this.#span ??= (this.context !== undefined ? trace.getSpan(this.context) : undefined) ?? NO_SPAN);
  }

  /** The request's trace id: its span's, else the passed-through traceparent's (no SDK). */
  get traceId(): string | undefined {
    const sctx = this.span.spanContext();
    return sctx.traceId !== INVALID_SPAN_CONTEXT.traceId ? sctx.traceId : this.passthrough?.traceparent?.slice(3, 35);
  }

  /** The verified caller (mTLS), looked up on first use. */
  #peerInfo(): PeerInfo | undefined {
    if (this.#peerOf !== undefined) {
      this.#peer = this.#peerOf(this.req);
      this.#peerOf = undefined;
    }
    return this.#peer;
  }

  #meshAttrs(): Attributes {
    const attrs: Attributes = {};
    if (this.#t.service) attrs[sc.ATTR_HYPHAE_SERVICE] = this.#t.service;
    if (this.#t.cluster !== undefined) attrs[sc.ATTR_HYPHAE_CLUSTER] = this.#t.cluster;
    const peer = this.#peerInfo();
    if (peer) {
      attrs[sc.ATTR_HYPHAE_PEER_IDENTITY] = peer.id;
      if (peer.service) attrs[sc.ATTR_HYPHAE_SOURCE_SERVICE] = peer.service;
    }
    return attrs;
  }

  /** What semconv wants at span creation (samplers may read it). */
  #spanAttrs(req: IncomingMessage, method: string): Attributes {
    const socket = req.socket;
    const attributes: Attributes = {
      [sc.ATTR_HTTP_REQUEST_METHOD]: method,
      [sc.ATTR_URL_PATH]: pathOnly(req.url),
      [sc.ATTR_URL_SCHEME]: (socket as TLSSocket).encrypted ? 'https' : 'http',
    };
    if (method === '_OTHER' && req.method) attributes[sc.ATTR_HTTP_REQUEST_METHOD_ORIGINAL] = req.method;
    if (socket.remoteAddress) attributes[sc.ATTR_CLIENT_ADDRESS] = socket.remoteAddress;
    if (socket.localPort !== undefined) attributes[sc.ATTR_SERVER_PORT] = socket.localPort;
    const host = req.headers.host;
    if (host) attributes[sc.ATTR_SERVER_ADDRESS] = hostOnly(host);
    const ua = req.headers['user-agent'];
    if (ua) attributes[sc.ATTR_USER_AGENT_ORIGINAL] = ua;
    return attributes;
  }

  /** The rest, only for a span that records. */
  #recordedAttrs(req: IncomingMessage): Attributes {
    const socket = req.socket;
    const attributes = this.#meshAttrs();
    attributes[sc.ATTR_NETWORK_PROTOCOL_VERSION] = req.httpVersion;
    if (socket.remoteAddress) attributes[sc.ATTR_NETWORK_PEER_ADDRESS] = socket.remoteAddress;
    if (socket.remotePort !== undefined) attributes[sc.ATTR_NETWORK_PEER_PORT] = socket.remotePort;
    return attributes;
  }

  setRoute(route: string): void {
    this.route = route;
    // An instrumentation names its span from the RPC metadata when it ends it, which may be before we hear of the end.
    if (this.#rpc && this.#rpc.route === undefined) this.#rpc.route = route;
  }

  /** The response is done (`finished`: fully written; otherwise the connection closed first). */
  finish(res: ServerResponse, finished: boolean): void {
    const req = this.req;
    if (this.#done) return;
    this.#done = true;
    const t = this.#t;
    const ms = performance.now() - this.#start;
    const status = res.statusCode;
    const failed = !finished || classifyStatus(status) !== 'success';
    t.traffic.inbound.inflight--;
    t.traffic.inbound.record(ms, failed);
    // No span of ours to end, no metrics and no access log: the inbound stats above were all there was to do.
    if (t.accessLog === undefined && t.instruments.noop && !this.owned) return;
    const span = this.span;
    const errType = !finished ? 'aborted' : status >= 500 ? String(status) : undefined;
    const route = this.route;
    const method = sc.normalizeMethod(req.method);
    const peer = this.#peerInfo();

    if (this.owned) {
      if (span.isRecording()) {
        span.setAttribute(sc.ATTR_HTTP_RESPONSE_STATUS_CODE, status);
        span.setAttribute(sc.ATTR_HYPHAE_OUTCOME, failed ? 'failure' : 'success');
        if (route) {
          span.setAttribute(sc.ATTR_HTTP_ROUTE, route);
          span.updateName(`${method === '_OTHER' ? 'HTTP' : method} ${route}`);
        }
        // semconv: a server span is an error for 5xx only (4xx is the client's mistake).
        if (errType !== undefined) {
          span.setAttribute(sc.ATTR_ERROR_TYPE, errType);
          span.setStatus({ code: SpanStatusCode.ERROR });
        }
      }
      span.end();
    }
    // Not ours to end: the instrumentation ended it on 'close' already, so nothing more is added to it.

    const instruments = t.instruments;
    // An HTTP instrumentation records http.server.request.duration itself (under its scope): a second
    // histogram of the same name would count every request twice in any query that sums over scopes.
    if (!instruments.noop && !this.#instrumented) {
      const attrs: Attributes = {
        [sc.ATTR_HTTP_REQUEST_METHOD]: method,
        [sc.ATTR_URL_SCHEME]: (req.socket as TLSSocket | null)?.encrypted ? 'https' : 'http',
        [sc.ATTR_HTTP_RESPONSE_STATUS_CODE]: status,
        [sc.ATTR_HYPHAE_OUTCOME]: failed ? 'failure' : 'success',
      };
      if (route) attrs[sc.ATTR_HTTP_ROUTE] = route;
      if (errType !== undefined) attrs[sc.ATTR_ERROR_TYPE] = errType;
      // This service is the resource's service.name; the caller's is worth a label (a bounded set of services).
      if (peer?.service) attrs[sc.ATTR_HYPHAE_SOURCE_SERVICE] = peer.service;
      // Its cluster is not on the resource the application made: named here, once a control plane named it.
      if (t.cluster !== undefined) attrs[sc.ATTR_HYPHAE_CLUSTER] = t.cluster;
      instruments.serverDuration.record(ms / 1000, attrs);
    }

    if (t.accessLog) {
      const sctx = span.spanContext();
      const valid = sctx.traceId !== INVALID_SPAN_CONTEXT.traceId;
      // Every request names a trace: its span's, or (no SDK) the one it came with or the mesh started.
      writeAccessLog(t.accessLog, {
        time: new Date(performance.timeOrigin + this.#start).toISOString(),
        side: 'server',
        service: t.service,
        peer: peer?.service,
        peer_identity: peer?.id,
        method: req.method ?? 'GET',
        path: pathOnly(req.url),
        route,
        status: finished ? status : 0,
        duration_ms: Math.round(ms * 1000) / 1000,
        trace_id: valid ? sctx.traceId : this.passthrough?.traceparent?.slice(3, 35),
        span_id: valid && !this.#spanless ? sctx.spanId : undefined,
        error: !finished ? 'aborted' : undefined,
      });
    }
  }
}

function hostOnly(host: string): string {
  if (host.startsWith('[')) return host.slice(1, host.indexOf(']'));
  const colon = host.lastIndexOf(':');
  return colon < 0 ? host : host.slice(0, colon);
}
