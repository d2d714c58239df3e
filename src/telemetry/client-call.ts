/**
 * The telemetry of one mesh call: its logical span, its attempts, and what
 * is recorded when it ends (duration metric, edge stats, access log line).
 * The client filter creates it; it reads what it needs of the call at the
 * end through a structural view (CallFacts, call-target.ts), so src/telemetry stays free of
 * client imports.
 *
 * Without an SDK there is no span to make (nobody would record it): the call
 * gets the shared non-recording span, carries the incoming request's W3C
 * headers on, and only the edge stats (and the access log, if asked for) do
 * any work.
 */
import { INVALID_SPAN_CONTEXT, isSpanContextValid, SpanKind, SpanStatusCode, TraceFlags, trace, type Attributes, type Context, type Span } from '@opentelemetry/api';
import { pathOnly, writeAccessLog } from './access-log.js';
import { droppedRootHeaders, outgoingHeaders, SUPPRESS_TRACING } from './context.js';
import { droppedRootSpan } from './root-sampling.js';
import { validatedHere, validTraceparent } from './w3c.js';
import type { MeshTelemetry } from './mesh-telemetry.js';
import { errorType, isFailure } from './outcome.js';
import * as sc from './semconv.js';
import { originPort, type CallFacts, type ClientTarget, type RoutedBackend } from './call-target.js';

const NO_SPAN = trace.wrapSpanContext(INVALID_SPAN_CONTEXT);

export class ClientCallTelemetry {
  /** Undefined for a root the sampler dropped until something reads `span` (#droppedRoot has its header). */
  #span: Span | undefined;
  #droppedRoot: string | undefined = undefined;
  /** The context the call's layers run in (the logical span active): made only when an undici instrumentation reads it. */
  readonly context: Context | undefined;
  /** The SDK context the span was started in; undefined without an SDK. */
  readonly #parent: Context | undefined;
  /** true: an undici instrumentation makes the per-request CLIENT spans (ours is INTERNAL) and writes the headers. */
  readonly delegated: boolean;
  #t: MeshTelemetry;
  /** The destination called: its edge stats count the call (per rule of the parent). */
  #target: ClientTarget;
  /**
   * Where the call goes: the backend service the route rule chose, else the destination called; undefined
   * for a carried call no rule has sent anywhere yet. Names server.address and hyphae.destination.* and
   * holds the call in flight (the active-requests gauge).
   */
  #sentTo: ClientTarget | undefined;
  #call: CallFacts | undefined;
  #method: string | undefined;
  #path: string;
  #route: string | undefined = undefined;
  #subset: string | undefined = undefined;
  #start: number;
  #attempts = 0;
  #attemptStart = 0;
  #endpoint: string | undefined = undefined;
  /** The cluster of #endpoint when it is an imported instance; undefined: the caller's own (MeshTelemetry.cluster). */
  #endpointCluster: string | undefined = undefined;
  /** The retry layer's condition for the retry about to be sent: the next attempt's `hyphae.retry.reason`. */
  #retryReason: string | undefined = undefined;
  #status = 0;
  #traceId: string | undefined;
  /** The span is the parent's (an unsampled parent whose children the sampler drops): it is not this call's. */
  #spanless = false;
  #done = false;

  /**
   * `parent`: the SDK context to start the span in; undefined when no SDK is
   * active, and then nothing but the start time is taken here: no span, no
   * attributes. `traceparent`: the passed-through one (no SDK), for the
   * access log. `call`: read when the call ends (route, subset, endpoint, tries).
   */
  constructor(t: MeshTelemetry, target: ClientTarget, method: string | undefined, path: string, parent: Context | undefined, traceparent?: string, call?: CallFacts) {
    this.#t = t;
    this.#target = target;
    this.#method = method;
    this.#path = path;
    this.#call = call;
    this.#traceId = traceparent;
    this.#start = performance.now();
    if (target.carrier !== true) {
      this.#sentTo = target;
      target.edge.inflight++;
    }
    this.#parent = parent;
    if (parent === undefined) {
      this.#span = NO_SPAN;
      this.context = undefined;
      this.delegated = false;
      return;
    }
    this.delegated = t.undiciInstrumented();
    const parentSpan = trace.getSpan(parent);
    const psc = parentSpan?.spanContext();
    // A recording parent (sampled or not) is someone's span to write to: never stand in for it.
    if (psc !== undefined && (psc.traceFlags & TraceFlags.SAMPLED) === 0 && !parentSpan!.isRecording() && (validatedHere(psc) || isSpanContextValid(psc)) && t.dropsUnsampledChildren()) {
      // The tracer would make a span that records nothing: the parent's context is carried on as it is.
      this.#spanless = true;
      this.#span = parentSpan!;
      this.context = this.delegated ? parent : undefined;
      return;
    }
    // A root: with the SDK's common sampler, the ids and the decision are settled here, and a root it drops
    // is a non-recording span with those ids, as the SDK would have returned (root-sampling.ts).
    const roots = (psc === undefined || !isSpanContextValid(psc)) && parent.getValue(SUPPRESS_TRACING) !== true ? t.rootSampling() : undefined;
    const ids = roots?.draw();
    if (ids !== undefined && !ids.sampled) {
      // Most calls of a traced service: the span, a non-recording one, is made only if something reads it.
      this.#droppedRoot = ids.traceparent;
      this.#span = undefined;
      this.context = this.delegated ? trace.setSpan(parent, this.span) : undefined;
      return;
    }
    const m = sc.normalizeMethod(method);
    // At creation only what semconv wants for sampling decisions; the rest only if the span records.
    // url.full without the query string, as in the access log: query values may be secrets.
    // A carried call has no server yet: its rule names one (routed()), so a sampler sees no carrier's name.
    const attributes: Attributes = { [sc.ATTR_HTTP_REQUEST_METHOD]: m, [sc.ATTR_SERVER_PORT]: this.#port() };
    if (target.carrier !== true) {
      attributes[sc.ATTR_SERVER_ADDRESS] = target.destination;
      attributes[sc.ATTR_URL_FULL] = target.external !== undefined ? `${target.external}${pathOnly(path)}` : `http://${target.destination}${pathOnly(path)}`;
    }
    if (m === '_OTHER') attributes[sc.ATTR_HTTP_REQUEST_METHOD_ORIGINAL] = method!;
    const name = m === '_OTHER' ? 'HTTP' : m;
    const options = { kind: this.delegated ? SpanKind.INTERNAL : SpanKind.CLIENT, attributes };
    const span = ids !== undefined ? roots!.start(t.tracer, name, options, parent, ids) : t.tracer.startSpan(name, options, parent);
    if (span.isRecording()) {
      if (target.external === undefined && target.carrier !== true) {
        span.setAttribute(sc.ATTR_HYPHAE_DESTINATION_SERVICE, target.destination);
        span.setAttribute(sc.ATTR_HYPHAE_DESTINATION_NAMESPACE, target.namespace);
      }
      if (t.service) span.setAttribute(sc.ATTR_HYPHAE_SERVICE, t.service);
      if (t.cluster !== undefined) span.setAttribute(sc.ATTR_HYPHAE_CLUSTER, t.cluster);
    }
    this.#span = span;
    this.context = this.delegated ? trace.setSpan(parent, span) : undefined;
  }

  /** No SDK: the trace id of the traceparent passed on, from the incoming request's storage or, failing that, set on the call itself. */
  #passedTraceId(): string | undefined {
    const tp = this.#traceId ?? this.#call?.header?.('traceparent')?.trim();
    return tp !== undefined && validTraceparent(tp) ? tp.slice(3, 35) : undefined;
  }

  /** The call's span: its own, the parent's it carries on (spanless), or the shared non-recording one without an SDK. */
  get span(): Span {
    return (this.#span ??= droppedRootSpan(this.#droppedRoot!));
  }

  #port(): number {
    return originPort(this.#call?.opts.origin);
  }

  /** Headers to add to every attempt (SDK path), or undefined when an undici instrumentation writes its own. */
  headers(): Record<string, string> | undefined {
    if (this.delegated || this.#parent === undefined) return undefined;
    if (this.#span === undefined) return droppedRootHeaders(this.#parent, this.#droppedRoot!) ?? outgoingHeaders(this.#parent, this.span);
    return outgoingHeaders(this.#parent, this.#span, this.#spanless);
  }

  /** Whether the span records: per-attempt detail and span attributes are wanted. */
  get recording(): boolean {
    const span = this.#span;
    return span !== undefined && span.isRecording();
  }

  /** Route and subset, when the caller knows them before the end (they are otherwise read from the call). */
  setRoute(route: string | undefined, subset?: string | undefined): void {
    this.#route = route;
    this.#subset = subset;
    if (!this.recording) return;
    if (route) this.span.setAttribute(sc.ATTR_HYPHAE_ROUTE, route);
    if (subset) this.span.setAttribute(sc.ATTR_HYPHAE_SUBSET, subset);
  }

  /**
   * The route rule chose `backend`: the call goes to that service, whichever destination it was made to
   * (a Service's split to another service, or a gateway's carrier). It is named as where the call went
   * (server.address, hyphae.destination.*: the host the request is sent to) and is in flight there; url.full
   * keeps the URL the application asked for (semconv: a logical span's url.full is the one originally
   * requested), except for a carried call, which nobody asked for by that URL.
   */
  routed(backend: RoutedBackend): void {
    const to = (backend.sentTo ??= this.#t.clientTarget(backend.destination.namespace, backend.destination.name));
    const from = this.#sentTo;
    if (to === from || this.#done) return;
    if (from !== undefined) from.edge.inflight--;
    to.edge.inflight++;
    this.#sentTo = to;
    if (!this.recording) return;
    const span = this.span;
    span.setAttribute(sc.ATTR_SERVER_ADDRESS, to.destination);
    span.setAttribute(sc.ATTR_HYPHAE_DESTINATION_SERVICE, to.destination);
    span.setAttribute(sc.ATTR_HYPHAE_DESTINATION_NAMESPACE, to.namespace);
    if (this.#target.carrier === true) span.setAttribute(sc.ATTR_URL_FULL, `http://${to.destination}${pathOnly(this.#path)}`);
  }

  /** `cluster`: the endpoint's, when it is an imported instance (EndpointInfo.cluster). */
  attemptStarted(endpoint: string | undefined, cluster?: string | undefined): void {
    this.#attempts++;
    this.#endpoint = endpoint;
    this.#endpointCluster = cluster;
    this.#attemptStart = performance.now();
  }

  /** An attempt got its response headers (status) or failed (err): one span event per attempt. */
  attemptEnded(status: number, err?: unknown): void {
    if (this.recording) {
      const attrs: Attributes = {
        [sc.ATTR_HTTP_REQUEST_RESEND_COUNT]: this.#attempts - 1,
        'hyphae.attempt.duration_ms': Math.round((performance.now() - this.#attemptStart) * 1000) / 1000,
      };
      if (this.#endpoint) {
        attrs[sc.ATTR_HYPHAE_ENDPOINT] = this.#endpoint;
        const cluster = this.#endpointCluster ?? this.#t.cluster;
        if (cluster !== undefined) attrs[sc.ATTR_HYPHAE_DESTINATION_CLUSTER] = cluster;
      }
      if (status > 0) attrs[sc.ATTR_HTTP_RESPONSE_STATUS_CODE] = status;
      if (err !== undefined) attrs[sc.ATTR_ERROR_TYPE] = errorType(err);
      if (this.#retryReason !== undefined && this.#attempts > 1) attrs[sc.ATTR_HYPHAE_RETRY_REASON] = this.#retryReason;
      this.span.addEvent(sc.EVENT_ATTEMPT, attrs);
    }
  }

  /**
   * The retry layer looked at a failed attempt: `condition` is what failed
   * (the vocabulary of the retry policy and of the `hyphae.client.retries`
   * metric), `decision` whether it retried or why not. A retry names its
   * reason on the next attempt's event; a refusal to retry is said on the
   * span, so a call that failed for want of a retry shows why.
   */
  retryDecided(condition: string, decision: string): void {
    if (decision === 'retry') {
      this.#retryReason = condition;
    } else if (this.recording) {
      this.span.setAttribute(sc.ATTR_HYPHAE_RETRY_REASON, condition);
      this.span.setAttribute(sc.ATTR_HYPHAE_RETRY_DECISION, decision);
    }
  }

  /** Outlier detection ejected the endpoint this call's attempt went to. */
  endpointEjected(endpoint: string, reason: string): void {
    if (this.recording) this.span.addEvent(sc.EVENT_EJECTION, { [sc.ATTR_HYPHAE_ENDPOINT]: endpoint, [sc.ATTR_HYPHAE_REASON]: reason });
  }

  /**
   * The stack answered with this status: the response goes to the
   * application (its body still streams). The dispatcher says so as it
   * delivers; endpoint and tries are read from the call at the end, or given
   * here by callers that have no MeshCall.
   */
  responded(status: number, endpoint?: string | undefined, attempts?: number): void {
    this.#status = status;
    if (endpoint !== undefined) this.#endpoint = endpoint;
    if (attempts !== undefined && attempts > this.#attempts) this.#attempts = attempts;
  }

  /** The request is not a mesh call after all (an unknown service sent by DNS): end without counting it. */
  abandon(): void {
    if (this.#done) return;
    this.#done = true;
    if (this.#sentTo !== undefined) this.#sentTo.edge.inflight--;
    if (this.recording) this.span.end();
  }

  /** The response body was delivered in full. */
  completed(): void {
    this.finish(this.#status);
  }

  /** The call failed: before a response, or while its body streamed. */
  failed(err: unknown): void {
    this.finish(this.#status, err);
  }

  /** The call ended: response body complete (status) or failed (err). Only the first report counts. */
  finish(status: number, err?: unknown): void {
    if (this.#done) return;
    this.#done = true;
    const ms = performance.now() - this.#start;
    const failed = isFailure(status, err);
    const t = this.#t;
    const target = this.#target;
    const sentTo = this.#sentTo;
    if (sentTo !== undefined) sentTo.edge.inflight--;
    target.edge.record(ms, failed, this.#call?.logical.routeStats);
    // No span that records, no metrics and no access log: the edge stats above were all there was to do.
    if (t.accessLog === undefined && !this.recording && t.instruments.noop) return;
    const span = this.span;

    const call = this.#call;
    if (call !== undefined) {
      const logical = call.logical;
      if (logical.route !== undefined && this.#route === undefined) this.setRoute(logical.route, logical.backend?.subset.name);
      if (call.endpoint !== undefined) {
        this.#endpoint = call.endpoint.id;
        this.#endpointCluster = call.endpoint.info.cluster;
      }
      if (logical.attempt + 1 > this.#attempts) this.#attempts = logical.attempt + 1;
    }
    const attempts = Math.max(1, this.#attempts);
    // Where the call went: the endpoint's cluster, read off the endpoint (resolved with the snapshot), or
    // ours for a local one; none for a host outside the mesh or a call that reached no endpoint.
    const destCluster = target.external === undefined && this.#endpoint !== undefined ? (this.#endpointCluster ?? t.cluster) : undefined;
    const errType = err !== undefined ? errorType(err) : status >= 400 ? String(status) : undefined;
    if (span.isRecording()) {
      if (status > 0) span.setAttribute(sc.ATTR_HTTP_RESPONSE_STATUS_CODE, status);
      if (attempts > 1) span.setAttribute(sc.ATTR_HTTP_REQUEST_RESEND_COUNT, attempts - 1);
      if (this.#endpoint) span.setAttribute(sc.ATTR_HYPHAE_ENDPOINT, this.#endpoint);
      if (destCluster !== undefined) span.setAttribute(sc.ATTR_HYPHAE_DESTINATION_CLUSTER, destCluster);
      span.setAttribute(sc.ATTR_HYPHAE_OUTCOME, failed ? 'failure' : 'success');
      if (errType !== undefined) {
        span.setAttribute(sc.ATTR_ERROR_TYPE, errType);
        if (err !== undefined && errType.startsWith('HYPHAE_ERR_')) span.setAttribute(sc.ATTR_HYPHAE_ERROR_CODE, errType);
        // semconv: a client span is an error for any 4xx/5xx or a failure without response.
        span.setStatus({ code: SpanStatusCode.ERROR, message: err instanceof Error ? err.message : undefined });
      }
      span.end();
    }

    const instruments = t.instruments;
    if (!instruments.noop) {
      // Few attributes: the SDK hashes them on every record. This service is the resource's service.name,
      // and the destination's namespace is named only when it is not ours.
      // A carried call that no rule sent anywhere (HYPHAE_ERR_NO_ROUTE) names no server.
      const attrs: Attributes = {
        [sc.ATTR_HTTP_REQUEST_METHOD]: sc.normalizeMethod(this.#method),
        [sc.ATTR_SERVER_PORT]: this.#port(),
        [sc.ATTR_HYPHAE_OUTCOME]: failed ? 'failure' : 'success',
      };
      if (sentTo !== undefined) attrs[sc.ATTR_SERVER_ADDRESS] = sentTo.destination;
      if (status > 0) attrs[sc.ATTR_HTTP_RESPONSE_STATUS_CODE] = status;
      if (errType !== undefined) attrs[sc.ATTR_ERROR_TYPE] = errType;
      if (this.#route) attrs[sc.ATTR_HYPHAE_ROUTE] = this.#route;
      if (this.#subset) attrs[sc.ATTR_HYPHAE_SUBSET] = this.#subset;
      if (sentTo !== undefined && sentTo.namespace !== t.namespace) attrs[sc.ATTR_HYPHAE_DESTINATION_NAMESPACE] = sentTo.namespace;
      if (destCluster !== undefined) attrs[sc.ATTR_HYPHAE_DESTINATION_CLUSTER] = destCluster;
      instruments.clientDuration.record(ms / 1000, attrs);
    }

    if (t.accessLog) {
      const sctx = span.spanContext();
      const valid = sctx.traceId !== INVALID_SPAN_CONTEXT.traceId;
      writeAccessLog(t.accessLog, {
        time: new Date(performance.timeOrigin + this.#start).toISOString(),
        side: 'client',
        service: t.service,
        peer: sentTo?.destination,
        method: this.#method ?? 'GET',
        path: pathOnly(this.#path),
        route: this.#route,
        status,
        duration_ms: Math.round(ms * 1000) / 1000,
        attempts,
        endpoint: this.#endpoint,
        trace_id: valid ? sctx.traceId : this.#passedTraceId(),
        span_id: valid && !this.#spanless ? sctx.spanId : undefined,
        error: err !== undefined ? errType : undefined,
      });
    }
  }
}
