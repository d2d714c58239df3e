/**
 * The mesh's grpc-js server interceptor: one object per call, between
 * grpc-js's call and the handler. When the call's metadata arrives it
 *
 * 1. checks the caller's certificate (SPIFFE ID in this mesh's trust
 *    domain): none on an mTLS (STRICT) mesh, or an invalid one, is
 *    UNAUTHENTICATED; the identity is kept for getGrpcPeer(call);
 * 2. applies this service's AuthorizationPolicies to `POST <method path>`, as
 *    the HTTP servers do: refused is PERMISSION_DENIED, naming no policy (as HTTP's 403; the log names it);
 * 3. takes the deadline (the earlier of grpc-timeout and x-hyphae-deadline-ms)
 *    into a request context, so the handler's mesh calls get the time left;
 * 4. starts the SERVER span (parent: the caller's trace context), ended with
 *    rpc.server.duration when the status is sent.
 *
 * The handler is called by grpc-js from the listener events this object
 * passes on (metadata for streaming requests, half-close for unary ones), so
 * each event is passed on inside the request context and the trace context:
 * whatever the handler starts from there inherits both.
 */
import { Metadata, ServerInterceptingCall, status as Status, type ServerInterceptingCallInterface, type ServerInterceptor } from '@grpc/grpc-js';
import type { Span } from '@opentelemetry/api';
import { ErrorCode, MeshError } from '../core/errors.js';
import { DEADLINE_HEADER, MAX_PROPAGATED_MS, parseDeadlineHeader } from '../resilience/deadline.js';
import { RequestContext, runInRequestContext } from '../resilience/request-context.js';
import { IDENTITY_HEADERS, type PeerIdentity } from '../server/peer.js';
import { runIncoming, type Incoming } from '../telemetry/context.js';
import { checkGrpcPeer, setGrpcPeer } from './peer.js';
import { endRpcSpan, recordRpcDuration, startServerSpan } from './rpc-telemetry.js';
import type { AdapterHost } from '../mesh/adapter-host.js';
import type { ServerPolicy } from './server-policy.js';

/** The listener grpc-js hands start(): not exported by name. */
type InterceptingServerListener = Parameters<ServerInterceptingCallInterface['start']>[0];
type PartialStatus = Parameters<ServerInterceptingCallInterface['sendStatus']>[0];

/** Each mesh interceptor's mesh: serveGrpc refuses a server that does not carry its mesh's. */
const meshes = new WeakMap<ServerInterceptor, AdapterHost>();

export function meshServerInterceptor(policy: ServerPolicy): ServerInterceptor {
  const interceptor: ServerInterceptor = (method, call) => new ServerInterceptingCall(new MeshServerCall(policy, method.path, call));
  meshes.set(interceptor, policy.host);
  return interceptor;
}

/** True when `interceptors` (a grpc-js server's) hold the server interceptor of `host`'s mesh. */
export function carriesMeshInterceptor(interceptors: unknown, host: AdapterHost): boolean {
  return Array.isArray(interceptors) && interceptors.some((i) => typeof i === 'function' && meshes.get(i as ServerInterceptor) === host);
}

/** A refusal: the status to send, and what the log and the denied counter say. */
interface Refusal {
  code: Status;
  details: string;
}

class MeshServerCall implements ServerInterceptingCallInterface, InterceptingServerListener {
  readonly #policy: ServerPolicy;
  readonly #path: string;
  readonly #next: ServerInterceptingCallInterface;
  readonly #started = performance.now();
  #listener: InterceptingServerListener | undefined;
  #ctx: RequestContext | undefined;
  #incoming: Incoming | undefined;
  #span: Span | undefined;
  /** The metadata went on to the handler: later events go on too. Before that they wait in #queue. */
  #admitted = false;
  #refused = false;
  #queue: unknown[] | undefined;
  #ended = false;

  constructor(policy: ServerPolicy, path: string, next: ServerInterceptingCallInterface) {
    this.#policy = policy;
    this.#path = path;
    this.#next = next;
  }

  // ---- the call, as the handler's side sees it

  start(listener: InterceptingServerListener): void {
    this.#listener = listener;
    this.#next.start(this);
  }

  sendMetadata(metadata: Metadata): void {
    this.#next.sendMetadata(metadata);
  }

  sendMessage(message: unknown, callback: () => void): void {
    this.#next.sendMessage(message, callback);
  }

  sendStatus(status: PartialStatus): void {
    this.#end(status.code, status.details);
    this.#next.sendStatus(status);
  }

  startRead(): void {
    this.#next.startRead();
  }

  getPeer(): string {
    return this.#next.getPeer();
  }

  getDeadline(): ReturnType<ServerInterceptingCallInterface['getDeadline']> {
    return this.#next.getDeadline();
  }

  getHost(): string {
    return this.#next.getHost();
  }

  getAuthContext(): ReturnType<ServerInterceptingCallInterface['getAuthContext']> {
    return this.#next.getAuthContext();
  }

  getConnectionInfo(): ReturnType<ServerInterceptingCallInterface['getConnectionInfo']> {
    return this.#next.getConnectionInfo();
  }

  getMetricsRecorder(): ReturnType<ServerInterceptingCallInterface['getMetricsRecorder']> {
    return this.#next.getMetricsRecorder();
  }

  // ---- what grpc-js's call tells (this object is its listener)

  onReceiveMetadata(metadata: Metadata): void {
    const policy = this.#policy;
    if (policy.ready) return this.#admit(metadata);
    const wait = policy.whenReady();
    if (wait === undefined) return this.#refuse({ code: Status.UNAVAILABLE, details: `${ErrorCode.AUTHZ_NOT_READY}: authorization policies are not known yet` });
    wait
      .then(() => this.#admitLater(metadata))
      .catch((err: unknown) => {
        // Out of grpc-js's own call stack here: a handler that throws must not become an unhandled rejection.
        policy.logger.error('hyphae/grpc: a held call failed when let through', { path: clip(this.#path), error: String(err) });
        if (!this.#ended) this.sendStatus({ code: Status.INTERNAL, details: 'internal error', metadata: null });
      });
  }

  onReceiveMessage(message: unknown): void {
    if (this.#refused) return;
    if (!this.#admitted) (this.#queue ??= []).push(MESSAGE, message);
    else enter(this, deliverMessage, message);
  }

  onReceiveHalfClose(): void {
    if (this.#refused) return;
    if (!this.#admitted) (this.#queue ??= []).push(HALF_CLOSE, undefined);
    else enter(this, deliverHalfClose, undefined);
  }

  onCancel(): void {
    // Deadline passed (grpc-js's own timer) or the caller reset the stream.
    const ctx = this.#ctx;
    if (ctx !== undefined) ctx.cancel(new MeshError(ErrorCode.CANCELLED, 'the gRPC call was cancelled (its caller went away, or its deadline passed)'));
    this.#end(Status.CANCELLED, 'cancelled');
    if (this.#admitted) this.#listener!.onCancel();
  }

  // ---- admission

  #admitLater(metadata: Metadata): void {
    if (this.#ended) return;
    const policy = this.#policy;
    if (policy.ready) return this.#admit(metadata);
    const why = policy.failed ? `the mesh did not start: ${policy.failed.message}` : 'authorization policies are not known yet';
    this.#refuse({ code: Status.UNAVAILABLE, details: `${ErrorCode.AUTHZ_NOT_READY}: ${why}` });
  }

  #admit(metadata: Metadata): void {
    const policy = this.#policy;
    const t = policy.telemetry;
    if (t !== undefined) {
      const trace = startServerSpan(t, this.#path, metadata);
      this.#span = trace.span;
      this.#incoming = trace.incoming;
    }
    for (const name of IDENTITY_HEADERS) metadata.remove(name);
    const peer = this.#peer(metadata);
    if (typeof peer === 'object' && 'code' in peer) return this.#refuse(peer);
    const refusal = this.#authorize(peer, metadata) ?? this.#deadline(metadata);
    if (refusal !== undefined) return this.#refuse(refusal);
    this.#admitted = true;
    enter(this, deliverMetadata, metadata);
    const queue = this.#queue;
    if (queue === undefined) return;
    this.#queue = undefined;
    for (let i = 0; i < queue.length && !this.#ended; i += 2) enter(this, queue[i] === MESSAGE ? deliverMessage : deliverHalfClose, queue[i + 1]);
  }

  /** The caller's verified identity (undefined on plaintext where allowed), or the refusal. */
  #peer(metadata: Metadata): PeerIdentity | Refusal | undefined {
    const policy = this.#policy;
    const trustDomain = policy.trustDomain();
    if (trustDomain === undefined) return undefined;
    const cert = this.#next.getAuthContext().sslPeerCertificate;
    if (cert === undefined) {
      if (!policy.requiresPeer()) return undefined;
      return { code: Status.UNAUTHENTICATED, details: `${ErrorCode.UNAUTHENTICATED}: no verified client certificate: this mesh requires mTLS` };
    }
    const check = checkGrpcPeer(cert, trustDomain);
    if (!check.ok) return { code: Status.UNAUTHENTICATED, details: `${ErrorCode.UNAUTHENTICATED}: ${check.problem}` };
    setGrpcPeer(metadata, check.identity);
    return check.identity;
  }

  #authorize(peer: PeerIdentity | undefined, metadata: Metadata): Refusal | undefined {
    const policy = this.#policy;
    const denial = policy.authorize(this.#path, peer, metadata);
    if (denial === undefined) return undefined;
    const t = policy.telemetry;
    if ('badPath' in denial) {
      policy.logger.info('hyphae/grpc: method path refused', { reason: denial.badPath, path: clip(this.#path) });
      t?.recordDenied('bad-path');
      return { code: Status.PERMISSION_DENIED, details: `${ErrorCode.BAD_REQUEST_TARGET}: ${denial.badPath}` };
    }
    t?.recordDenied(denial.policy === undefined ? 'no-allow-match' : 'deny-policy', denial.policy);
    policy.logger.info('hyphae/grpc: call denied by authorization', { policy: denial.policy ?? '(no ALLOW match)', path: clip(this.#path), peer: peer?.id ?? null });
    return { code: Status.PERMISSION_DENIED, details: `${ErrorCode.AUTHZ_DENIED}: ${denial.reason} (${this.#path.length > 256 ? `${this.#path.slice(0, 256)}...` : this.#path})` };
  }

  /** The request context of a call with a deadline (the earlier of grpc-timeout and x-hyphae-deadline-ms). */
  #deadline(metadata: Metadata): Refusal | undefined {
    const d = this.#next.getDeadline();
    const at = d instanceof Date ? d.getTime() : d;
    let ms = at === Infinity ? Infinity : at - Date.now();
    const values = metadata.get(DEADLINE_HEADER);
    if (values.length > 0) {
      const budget = parseDeadlineHeader(values.filter((v): v is string => typeof v === 'string'));
      if (budget !== undefined && budget < ms) ms = budget;
      // Not passed on as it came: the handler's calls write their own, from the time left.
      metadata.remove(DEADLINE_HEADER);
    }
    if (ms === Infinity) return undefined;
    if (ms <= 0) return { code: Status.DEADLINE_EXCEEDED, details: `${ErrorCode.DEADLINE_EXCEEDED}: the caller had no time left for this call` };
    this.#ctx = new RequestContext(performance.now() + Math.min(ms, MAX_PROPAGATED_MS));
    return undefined;
  }

  #refuse(r: Refusal): void {
    this.#refused = true;
    this.#queue = undefined;
    this.sendStatus({ code: r.code, details: r.details, metadata: null });
  }

  /** Once: span, duration, the request context released. */
  #end(code: Status, details: string): void {
    if (this.#ended) return;
    this.#ended = true;
    const ctx = this.#ctx;
    if (ctx !== undefined) ctx.end();
    const span = this.#span;
    if (span !== undefined) endRpcSpan(span, { code, details });
    recordRpcDuration(this.#policy.telemetry, 'server', this.#path, code, performance.now() - this.#started);
  }

  /** @internal */ get _ctx(): RequestContext | undefined {
    return this.#ctx;
  }
  /** @internal */ get _incoming(): Incoming | undefined {
    return this.#incoming;
  }
  /** @internal */ get _listener(): InterceptingServerListener {
    return this.#listener!;
  }
}

const MESSAGE = 0;
const HALF_CLOSE = 1;

type Deliver = (call: MeshServerCall, arg: unknown) => void;

function deliverMetadata(call: MeshServerCall, metadata: unknown): void {
  call._listener.onReceiveMetadata(metadata as Metadata);
}
function deliverMessage(call: MeshServerCall, message: unknown): void {
  call._listener.onReceiveMessage(message);
}
function deliverHalfClose(call: MeshServerCall): void {
  call._listener.onReceiveHalfClose();
}

/** Pass an event on to the handler's side inside the call's request context and trace context (module functions: no closure per event). */
function enter(call: MeshServerCall, fn: Deliver, arg: unknown): void {
  const ctx = call._ctx;
  if (ctx !== undefined) runInRequestContext(ctx, withTrace, call, fn, arg);
  else withTrace(call, fn, arg);
}

function withTrace(call: MeshServerCall, fn: Deliver, arg: unknown): void {
  const incoming = call._incoming;
  if (incoming !== undefined) runIncoming(incoming, fn, call, arg);
  else fn(call, arg);
}

function clip(s: string): string {
  return s.length > 256 ? `${s.slice(0, 256)}...` : s;
}
