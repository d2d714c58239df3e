/**
 * One gRPC call through the mesh's client interceptor: the call under
 * grpc-js's own InterceptingCall, which starts one attempt (a call of the
 * next layer, `nextCall(options)`) and, for unary and server-streaming calls,
 * another when an attempt ends with a retriable status before any response
 * metadata arrived. The caller's listener sees one call: the metadata,
 * messages and status of the attempt that answered, never of one retried.
 *
 * The deadline is fixed once (the call's own, or the inbound request's when
 * earlier) and is the same absolute instant for every attempt, so grpc-js
 * sends each one the time left as `grpc-timeout`.
 *
 * A retry's metadata names the endpoints the earlier attempts failed on
 * (their getPeer()), for the mesh's picker to avoid while it has a choice
 * (failed-endpoints.ts); a first attempt's metadata is the caller's as is.
 */
import { Metadata, status as Status, type InterceptingListener, type InterceptorOptions, type NextCall, type StatusObject } from '@grpc/grpc-js';
import type { Span } from '@opentelemetry/api';
import type { RequestContext } from '../resilience/request-context.js';
import type { RetryHookEvent } from '../resilience/hooks.js';
import type { ClientPolicy } from './client-policy.js';
import { endpointOfPeer, noteFailedPeer, writeFailedEndpoints } from './failed-endpoints.js';
import { endRpcSpan, recordRpcDuration } from './rpc-telemetry.js';
import { statusName } from './status.js';

/** What `nextCall(options)` gives: grpc-js does not export the interface by name. */
type InterceptingCallInterface = ReturnType<NextCall>;
type MessageContext = Parameters<InterceptingCallInterface['sendMessageWithContext']>[0];

/** Appended to the details of a retriable status that came after the answer began (it is not retried). */
const NOT_RETRIED_COMMITTED = 'not retried: the answer had begun';

export class MeshClientCall implements InterceptingCallInterface {
  readonly #policy: ClientPolicy;
  readonly #options: InterceptorOptions;
  readonly #next: NextCall;
  /** Unary and server-streaming calls send one message, which is kept to send again; streaming requests never retry. */
  readonly #retriable: boolean;
  /** Absolute deadline (epoch ms), Infinity without one. */
  readonly #deadline: number;
  readonly #started = performance.now();
  #inbound: RequestContext | undefined;
  #span: Span | undefined = undefined;
  #current: InterceptingCallInterface;
  #attempt = 0;
  #listener: InterceptingListener | undefined;
  #metadata: Metadata | undefined;
  #message: unknown = undefined;
  #hasMessage = false;
  #halfClosed = false;
  #readPending = false;
  /** Response metadata (or a message) came: the answer is this attempt's, whatever its status. */
  #committed = false;
  #done = false;
  #cancelled = false;
  /** grpc-js's unary layer says "no message" with a null one before the status: held until the status is final. */
  #nullMessage = false;
  #backoff: NodeJS.Timeout | undefined;
  /** The peers (subchannel addresses) of the attempts that failed and were retried. */
  #failedPeers: string[] | undefined;

  constructor(policy: ClientPolicy, options: InterceptorOptions, next: NextCall, deadline: number, retriable: boolean, inbound: RequestContext | undefined) {
    this.#policy = policy;
    this.#options = options;
    this.#next = next;
    this.#deadline = deadline;
    this.#retriable = retriable;
    this.#inbound = inbound;
    this.#current = next(options);
  }

  start(metadata: Metadata, listener?: Partial<InterceptingListener>): void {
    // InterceptingCall always hands a full listener down; the Partial is the interface's.
    this.#listener = listener as InterceptingListener;
    this.#span = this.#policy.startSpan(this.#options, metadata);
    if (this.#retriable) this.#metadata = metadata.clone();
    this.#current.start(metadata, new AttemptListener(this, 0));
    const inbound = this.#inbound;
    if (inbound !== undefined) {
      // Cancelled before this call started (its caller went away): it ends at once, as a mesh HTTP call would.
      const reason = inbound.reason;
      if (reason !== undefined) this.abort(reason);
      else inbound.track(this);
    }
  }

  sendMessageWithContext(context: MessageContext, message: unknown): void {
    if (this.#retriable) {
      this.#message = message;
      this.#hasMessage = true;
    }
    this.#current.sendMessageWithContext(context, message);
  }

  sendMessage(message: unknown): void {
    this.sendMessageWithContext({}, message);
  }

  startRead(): void {
    this.#readPending = true;
    this.#current.startRead();
  }

  halfClose(): void {
    this.#halfClosed = true;
    this.#current.halfClose();
  }

  cancelWithStatus(code: Status, details: string): void {
    // Whatever status the cancelled attempt ends with, it is the answer: a cancelled call is never tried again.
    this.#cancelled = true;
    if (this.#backoff !== undefined) {
      // Between attempts there is no call below to cancel: the caller gets the status from here.
      clearTimeout(this.#backoff);
      this.#backoff = undefined;
      this.#finish({ code, details, metadata: new Metadata() });
      return;
    }
    this.#current.cancelWithStatus(code, details);
  }

  getPeer(): string {
    return this.#current.getPeer();
  }

  getAuthContext(): ReturnType<InterceptingCallInterface['getAuthContext']> {
    return this.#current.getAuthContext();
  }

  /** The inbound request this call serves was cancelled (its caller went away, or its deadline passed). */
  abort(reason: Error): void {
    this.cancelWithStatus(Status.CANCELLED, `the inbound request was cancelled: ${reason.message}`);
  }

  // ---- what the attempt under way tells (AttemptListener)

  /** @internal */
  _metadata(attempt: number, metadata: Metadata): void {
    if (attempt !== this.#attempt || this.#done) return;
    this.#committed = true;
    this.#listener!.onReceiveMetadata(metadata);
  }

  /** @internal */
  _message(attempt: number, message: unknown): void {
    if (attempt !== this.#attempt || this.#done) return;
    if (message === null && !this.#options.method_definition.responseStream) {
      this.#nullMessage = true;
      return;
    }
    this.#committed = true;
    this.#readPending = false;
    this.#listener!.onReceiveMessage(message);
  }

  /** @internal */
  _status(attempt: number, status: StatusObject): void {
    if (attempt !== this.#attempt || this.#done) return;
    if (status.code !== Status.OK && !this.#cancelled) {
      if (!this.#committed) {
        if (this.#retry(status)) return;
      } else if (this.#retriable && this.#policy.retriesOn(status.code)) {
        // gRPC's commit rule: once the answer began, the server may have acted on the call, so it is not tried
        // again. Said in the details, so a caller (and a test) can tell it from a failure retries could not mend:
        // an instance killed between an answer's headers and its trailers ends its calls this way.
        status = { ...status, details: `${status.details} (${NOT_RETRIED_COMMITTED})` };
      }
    }
    this.#finish(status);
  }

  /** True when another attempt is on its way (after the backoff). */
  #retry(status: StatusObject): boolean {
    const policy = this.#policy;
    if (!this.#retriable || !policy.retriesOn(status.code)) return false;
    const condition = statusName(status.code);
    // Read now, not at the start: the destination's policy may have arrived (or changed) since.
    if (this.#attempt + 1 >= policy.attempts()) return this.#giveUp(condition, 'attempts-exhausted');
    const delayMs = policy.backoffMs(this.#attempt);
    if (Date.now() + delayMs >= this.#deadline) return this.#giveUp(condition, 'deadline');
    if (!policy.withdraw()) return this.#giveUp(condition, 'budget-exhausted');
    const endpoint = endpointOfPeer(this.#current.getPeer());
    policy.retryEvent(this.#event(condition, 'retry', delayMs, endpoint));
    this.#failedPeers = noteFailedPeer(this.#failedPeers, endpoint);
    this.#attempt++;
    this.#backoff = setTimeout(startAttempt, delayMs, this);
    return true;
  }

  #giveUp(condition: string, decision: RetryHookEvent['decision']): false {
    this.#policy.retryEvent(this.#event(condition, decision, 0));
    return false;
  }

  /** The attempt that failed is still the current one here (the next starts after the backoff). */
  #event(condition: string, decision: RetryHookEvent['decision'], delayMs: number, endpoint = endpointOfPeer(this.#current.getPeer())): RetryHookEvent {
    const d = this.#policy.dest;
    return { destination: d.service, namespace: d.namespace, route: undefined, condition, decision, attempt: this.#attempt, endpoint, delayMs };
  }

  /** @internal The backoff is over: the next attempt, with what the caller sent the first one. */
  _nextAttempt(): void {
    this.#backoff = undefined;
    if (this.#done) return;
    this.#nullMessage = false;
    const call = (this.#current = this.#next(this.#options));
    const metadata = this.#metadata!.clone();
    if (this.#failedPeers !== undefined) writeFailedEndpoints(metadata, this.#failedPeers);
    call.start(metadata, new AttemptListener(this, this.#attempt));
    if (this.#hasMessage) call.sendMessage(this.#message);
    if (this.#halfClosed) call.halfClose();
    if (this.#readPending) call.startRead();
  }

  #finish(status: StatusObject): void {
    if (this.#done) return;
    this.#done = true;
    this.#message = undefined;
    if (this.#inbound !== undefined) {
      this.#inbound.untrack(this);
      this.#inbound = undefined;
    }
    const span = this.#span;
    if (span !== undefined) endRpcSpan(span, status);
    if (this.#nullMessage) this.#listener!.onReceiveMessage(null);
    recordRpcDuration(this.#policy.telemetry, 'client', this.#options.method_definition.path, status.code, performance.now() - this.#started, this.#policy.dest.service);
    this.#listener!.onReceiveStatus(status);
  }
}

function startAttempt(call: MeshClientCall): void {
  call._nextAttempt();
}

/** The listener of one attempt: one object per attempt, no closures; what a superseded attempt says is dropped. */
class AttemptListener implements InterceptingListener {
  readonly #call: MeshClientCall;
  readonly #attempt: number;
  constructor(call: MeshClientCall, attempt: number) {
    this.#call = call;
    this.#attempt = attempt;
  }
  onReceiveMetadata(metadata: Metadata): void {
    this.#call._metadata(this.#attempt, metadata);
  }
  onReceiveMessage(message: unknown): void {
    this.#call._message(this.#attempt, message);
  }
  onReceiveStatus(status: StatusObject): void {
    this.#call._status(this.#attempt, status);
  }
}
