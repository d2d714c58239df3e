/**
 * The telemetry of one mesh call: its logical span, its attempts, and what
 * is recorded when it ends (duration metric, edge stats, access log line).
 * The client filters create it and hand it the facts; it knows nothing of
 * MeshCall, so src/telemetry stays free of client imports.
 */
import { SpanKind, SpanStatusCode, trace, type Attributes, type Context, type Span } from '@opentelemetry/api';
import { pathOnly, writeAccessLog } from './access-log.js';
import { outgoingHeaders } from './context.js';
import type { MeshTelemetry } from './mesh-telemetry.js';
import { errorType, failureReason, isFailure } from './outcome.js';
import * as sc from './semconv.js';
import type { TrafficCounter } from './traffic.js';

export interface ClientCallInfo {
  method: string | undefined;
  path: string;
  destination: string;
  namespace: string;
  route?: string | undefined;
  subset?: string | undefined;
}

export class ClientCallTelemetry {
  readonly span: Span;
  /** The context the call's layers run in: the logical span active. */
  readonly context: Context;
  /** true: an undici instrumentation makes the per-request CLIENT spans (ours is INTERNAL). */
  readonly delegated: boolean;
  #t: MeshTelemetry;
  #edge: TrafficCounter;
  #info: ClientCallInfo;
  #method: string;
  #start = performance.now();
  #startWall = Date.now();
  #attempts = 0;
  #attemptStart = 0;
  #endpoint: string | undefined;
  #lastFailure: string | undefined;
  #status = 0;
  #done = false;

  constructor(t: MeshTelemetry, edge: TrafficCounter, info: ClientCallInfo, parent: Context) {
    this.#t = t;
    this.#edge = edge;
    this.#info = info;
    this.#method = sc.normalizeMethod(info.method);
    this.delegated = t.undiciInstrumented();
    const attributes: Attributes = {
      [sc.ATTR_HTTP_REQUEST_METHOD]: this.#method,
      [sc.ATTR_SERVER_ADDRESS]: info.destination,
      [sc.ATTR_URL_FULL]: `http://${info.destination}${info.path}`,
      [sc.ATTR_HYPHAE_DESTINATION_SERVICE]: info.destination,
      [sc.ATTR_HYPHAE_DESTINATION_NAMESPACE]: info.namespace,
    };
    if (this.#method === '_OTHER') attributes[sc.ATTR_HTTP_REQUEST_METHOD_ORIGINAL] = info.method!;
    if (info.route) attributes[sc.ATTR_HYPHAE_ROUTE] = info.route;
    if (info.subset) attributes[sc.ATTR_HYPHAE_SUBSET] = info.subset;
    if (t.service) attributes[sc.ATTR_HYPHAE_SERVICE] = t.service;
    this.span = t.tracer.startSpan(
      this.#method === '_OTHER' ? 'HTTP' : this.#method,
      { kind: this.delegated ? SpanKind.INTERNAL : SpanKind.CLIENT, attributes },
      parent,
    );
    this.context = trace.setSpan(parent, this.span);
    edge.inflight++;
  }

  /** Headers to add to every attempt, or undefined when an undici instrumentation writes its own. */
  headers(): Record<string, string> | undefined {
    return this.delegated ? undefined : outgoingHeaders(this.context);
  }

  /** Route and subset are known only after route matching, below this layer. */
  setRoute(route: string | undefined, subset?: string | undefined): void {
    this.#info.route = route;
    this.#info.subset = subset;
    if (route) this.span.setAttribute(sc.ATTR_HYPHAE_ROUTE, route);
    if (subset) this.span.setAttribute(sc.ATTR_HYPHAE_SUBSET, subset);
  }

  attemptStarted(endpoint: string | undefined): void {
    this.#attempts++;
    this.#endpoint = endpoint;
    this.#attemptStart = performance.now();
  }

  /** An attempt got its response headers (status) or failed (err): one span event per attempt. */
  attemptEnded(status: number, err?: unknown): void {
    if (this.span.isRecording()) {
      const attrs: Attributes = {
        [sc.ATTR_HTTP_REQUEST_RESEND_COUNT]: this.#attempts - 1,
        'hyphae.attempt.duration_ms': Math.round((performance.now() - this.#attemptStart) * 1000) / 1000,
      };
      if (this.#endpoint) attrs[sc.ATTR_HYPHAE_ENDPOINT] = this.#endpoint;
      if (status > 0) attrs[sc.ATTR_HTTP_RESPONSE_STATUS_CODE] = status;
      if (err !== undefined) attrs[sc.ATTR_ERROR_TYPE] = errorType(err);
      if (this.#lastFailure !== undefined) attrs[sc.ATTR_HYPHAE_RETRY_REASON] = this.#lastFailure;
      this.span.addEvent(sc.EVENT_ATTEMPT, attrs);
    }
    this.#lastFailure = failureReason(status, err);
  }

  /** Outlier detection ejected the endpoint this call's attempt went to. */
  endpointEjected(endpoint: string, reason: string): void {
    if (this.span.isRecording()) this.span.addEvent(sc.EVENT_EJECTION, { [sc.ATTR_HYPHAE_ENDPOINT]: endpoint, [sc.ATTR_HYPHAE_REASON]: reason });
  }

  get attempts(): number {
    return this.#attempts;
  }

  /** The stack answered: this response goes to the application (its body still streams). */
  responded(status: number, endpoint: string | undefined): void {
    this.#status = status;
    if (endpoint !== undefined) this.#endpoint = endpoint;
  }

  /** The response body was delivered in full. */
  completed(): void {
    this.finish(this.#status);
  }

  /** The call failed: before a response, or while its body streamed. */
  failed(err: unknown): void {
    this.finish(this.#status, err);
  }

  /** The call ended: response body complete (status) or failed (err). Only the first call counts. */
  finish(status: number, err?: unknown): void {
    if (this.#done) return;
    this.#done = true;
    const ms = performance.now() - this.#start;
    const failed = isFailure(status, err);
    const t = this.#t;
    this.#edge.inflight--;
    this.#edge.record(ms, failed);

    const span = this.span;
    const errType = err !== undefined ? errorType(err) : status >= 400 ? String(status) : undefined;
    if (span.isRecording()) {
      if (status > 0) span.setAttribute(sc.ATTR_HTTP_RESPONSE_STATUS_CODE, status);
      if (this.#attempts > 1) span.setAttribute(sc.ATTR_HTTP_REQUEST_RESEND_COUNT, this.#attempts - 1);
      if (this.#endpoint) span.setAttribute(sc.ATTR_HYPHAE_ENDPOINT, this.#endpoint);
      span.setAttribute(sc.ATTR_HYPHAE_OUTCOME, failed ? 'failure' : 'success');
      if (errType !== undefined) {
        span.setAttribute(sc.ATTR_ERROR_TYPE, errType);
        if (err !== undefined && errType.startsWith('HYPHAE_ERR_')) span.setAttribute(sc.ATTR_HYPHAE_ERROR_CODE, errType);
        // semconv: a client span is an error for any 4xx/5xx or a failure without response.
        span.setStatus({ code: SpanStatusCode.ERROR, message: err instanceof Error ? err.message : undefined });
      }
    }
    span.end();

    const attrs: Attributes = {
      [sc.ATTR_HTTP_REQUEST_METHOD]: this.#method,
      [sc.ATTR_SERVER_ADDRESS]: this.#info.destination,
      [sc.ATTR_HYPHAE_DESTINATION_NAMESPACE]: this.#info.namespace,
      [sc.ATTR_HYPHAE_OUTCOME]: failed ? 'failure' : 'success',
    };
    if (status > 0) attrs[sc.ATTR_HTTP_RESPONSE_STATUS_CODE] = status;
    if (errType !== undefined) attrs[sc.ATTR_ERROR_TYPE] = errType;
    if (this.#info.route) attrs[sc.ATTR_HYPHAE_ROUTE] = this.#info.route;
    if (this.#info.subset) attrs[sc.ATTR_HYPHAE_SUBSET] = this.#info.subset;
    if (t.service) attrs[sc.ATTR_HYPHAE_SOURCE_SERVICE] = t.service;
    t.instruments.clientDuration.record(ms / 1000, attrs);

    if (t.accessLog) {
      const sctx = span.spanContext();
      writeAccessLog(t.accessLog, {
        time: new Date(this.#startWall).toISOString(),
        side: 'client',
        service: t.service,
        peer: this.#info.destination,
        method: this.#info.method ?? 'GET',
        path: pathOnly(this.#info.path),
        route: this.#info.route,
        status,
        duration_ms: Math.round(ms * 1000) / 1000,
        attempts: this.#attempts,
        endpoint: this.#endpoint,
        trace_id: sctx.traceId !== '00000000000000000000000000000000' ? sctx.traceId : undefined,
        span_id: sctx.spanId !== '0000000000000000' ? sctx.spanId : undefined,
        error: err !== undefined ? errType : undefined,
      });
    }
  }
}
