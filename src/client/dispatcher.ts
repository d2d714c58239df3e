/**
 * The mesh as an undici Dispatcher: `undici.fetch(url, { dispatcher })`,
 * `undici.request`, and mesh.request/mesh.fetch all enter here. A request for a
 * mesh service runs the destination's stack; anything else goes to the
 * passthrough agent untouched.
 */
import { Dispatcher } from 'undici';
import { errorVerdict } from '../core/classifier.js';
import { ErrorCode, MeshError } from '../core/errors.js';
import type { Attempt } from './endpoint/attempt.js';
import { MeshCall } from './call/mesh-call.js';
import { toLegacyHandler } from './call/legacy-handler.js';
import type { Destination } from './destination.js';
import { takeOver } from './call/options-copy.js';
import type { PassthroughCalls } from './passthrough-call.js';

export interface DispatchRouter {
  /** The destination for an origin, a MeshError to fail with, or undefined to pass through. */
  route(origin: string | URL | undefined): Destination | MeshError | undefined;
  /** After discovery says a service does not exist: true to send the request by DNS instead. */
  passthroughUnknown: boolean;
}

const noop = () => {};

/** What a dispatcher made before its router exists waits for (a lazily started mesh's start). */
export type RouterPending = () => Promise<unknown>;

export class MeshDispatcher extends Dispatcher {
  #router: DispatchRouter | undefined;
  #passthrough: Dispatcher;
  #pending: RouterPending | undefined;
  /** The telemetry of calls to hosts that are not mesh services (passthrough-call.ts); undefined with telemetry off. */
  #passthroughCalls: PassthroughCalls | undefined;

  /** Without a router (a mesh not started yet), each call waits for `pending`, then for attach(). */
  constructor(router: DispatchRouter | RouterPending, passthrough: Dispatcher, passthroughCalls?: PassthroughCalls) {
    super();
    if (typeof router === 'function') this.#pending = router;
    else this.#router = router;
    this.#passthrough = passthrough;
    this.#passthroughCalls = passthroughCalls;
  }

  /** Give a dispatcher made before its router the router; from now on calls go straight to it. */
  attach(router: DispatchRouter): void {
    this.#router = router;
    this.#pending = undefined;
  }

  override dispatch(opts: Dispatcher.DispatchOptions, handler: Dispatcher.DispatchHandler): boolean {
    const router = this.#router;
    // Once attached, the one check a call pays for the lazy start: a field read, no promise.
    if (router === undefined) return this.#dispatchWhenAttached(opts, handler);
    const owned = takeOver(opts);
    const target = router.route(opts.origin);
    if (target === undefined) {
      // Not a mesh service: traced and given the trace context all the same (issue 20), with telemetry on.
      const calls = this.#passthroughCalls;
      return calls === undefined ? this.#passthrough.dispatch(opts, handler) : calls.dispatch(opts, handler, owned);
    }
    const h = toLegacyHandler(handler);
    if (target instanceof MeshError) {
      h.onConnect?.(noop);
      h.onError?.(target);
      return true;
    }
    const call = new MeshCall(target, opts, h, owned);
    call.start();
    target.handle(call).then(deliver, (err: unknown) => this.#failed(call, err, handler));
    return true;
  }

  /**
   * A call before the router exists: dispatched as it is once the start settles. undici's handlers learn of
   * an abort only from onConnect, which this dispatch still makes, so an abort meanwhile is not lost.
   */
  #dispatchWhenAttached(opts: Dispatcher.DispatchOptions, handler: Dispatcher.DispatchHandler): boolean {
    const fail = (err: unknown) => {
      const h = toLegacyHandler(handler);
      h.onConnect?.(noop);
      h.onError?.(err instanceof Error ? err : new Error(String(err)));
    };
    this.#pending!().then(() => {
      if (this.#router === undefined) return fail(new MeshError(ErrorCode.MESH_CLOSED, 'the mesh was closed', { rejected: true }));
      try {
        this.dispatch(opts, handler);
      } catch (err) {
        fail(err);
      }
    }, fail);
    return true;
  }

  #failed(call: MeshCall, err: unknown, original: Dispatcher.DispatchHandler): void {
    if (this.#router!.passthroughUnknown && err instanceof MeshError && err.code === ErrorCode.SERVICE_NOT_FOUND && !call.abortReason) {
      // Not a mesh call after all: its telemetry record ends without counting (DNS takes the request), and
      // what the layers hold for it is released. Its options already carry the call's trace headers, so it
      // goes to the agent itself, not through the pass-through telemetry (which would trace it twice).
      call.abandon();
      this.#passthrough.dispatch(call.opts, original);
      return;
    }
    call.fail(toCallError(call, err));
  }

  // The mesh owns every resource behind this dispatcher; close the mesh to release them.
  override close(): Promise<void>;
  override close(callback: () => void): void;
  override close(callback?: () => void): Promise<void> | void {
    if (callback) return void queueMicrotask(callback);
    return Promise.resolve();
  }

  override destroy(): Promise<void>;
  override destroy(err: Error | null): Promise<void>;
  override destroy(callback: () => void): void;
  override destroy(err: Error | null, callback: () => void): void;
  override destroy(a?: Error | null | (() => void), b?: () => void): Promise<void> | void {
    const callback = typeof a === 'function' ? a : b;
    if (callback) return void queueMicrotask(callback);
    return Promise.resolve();
  }
}

function deliver(attempt: Attempt): void {
  // Telemetry: the status of the answer the application gets (the call's end comes with its body).
  attempt.call.telemetry?.responded(attempt.statusCode);
  attempt.deliver();
}

/** What the application sees: its own abort reason, our MeshErrors as they are, transport errors with the code their verdict says. */
function toCallError(call: MeshCall, err: unknown): Error {
  if (call.abortReason && (err === call.abortReason || !(err instanceof MeshError))) return call.abortReason;
  if (err instanceof MeshError) return err;
  const ep = call.endpoint;
  // The endpoint's service: the backend a route rule chose, not the destination (a gateway's carrier).
  const service = call.logical.goesTo(call.destination).name;
  const where = `${service} endpoint ${ep?.id ?? '?'}`;
  const msg = err instanceof Error ? err.message : String(err);
  const details = { service, endpoint: ep?.id };
  switch (errorVerdict(err).failure) {
    case 'connect':
      return new MeshError(ErrorCode.CONNECT_FAILED, `could not connect to ${where}: ${msg}`, { cause: err, retryable: true, details });
    case 'reset':
      return new MeshError(ErrorCode.UPSTREAM_RESET, `connection to ${where} was reset before a response: ${msg}`, {
        cause: err,
        retryable: true,
        details,
      });
    default:
      return new MeshError(ErrorCode.UPSTREAM_ERROR, `request to ${where} failed: ${msg}`, { cause: err, details });
  }
}
