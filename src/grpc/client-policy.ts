/**
 * What the client interceptor of one destination knows between calls: the
 * retriable statuses, the destination (its retry budget and retry policy,
 * shared with the HTTP calls of the same service), the mesh's event sink and
 * telemetry. Made once per `meshGrpcClient`, read by every call.
 */
import type { InterceptorOptions, Metadata } from '@grpc/grpc-js';
import type { Span } from '@opentelemetry/api';
import type { Destination } from '../client/destination.js';
import type { ClientEventSink } from '../client/events.js';
import type { RetryHookEvent } from '../resilience/hooks.js';
import type { AdapterHost } from '../mesh/adapter-host.js';
import type { MeshTelemetry } from '../telemetry/mesh-telemetry.js';
import type { GrpcRetryOptions } from './retry.js';
import { startClientSpan } from './rpc-telemetry.js';
import { statusCodes } from './status.js';

export class ClientPolicy {
  readonly dest: { readonly namespace: string; readonly service: string };
  readonly telemetry: MeshTelemetry | undefined;
  readonly #events: ClientEventSink;
  readonly #on: ReadonlySet<number>;
  readonly #attempts: number | undefined;
  #destination: Destination | undefined;

  constructor(host: AdapterHost, dest: { namespace: string; service: string }, retry: GrpcRetryOptions | undefined) {
    this.dest = { namespace: dest.namespace, service: dest.service };
    this.telemetry = host.telemetry;
    this.#events = host.events;
    this.#on = statusCodes(retry?.on ?? ['UNAVAILABLE']);
    const attempts = retry?.attempts;
    if (attempts !== undefined && !(Number.isInteger(attempts) && attempts >= 1)) throw new RangeError(`retry.attempts must be an integer >= 1, got ${attempts}`);
    this.#attempts = attempts;
    // The destination the HTTP calls of this service use (made if none called it yet): one budget for both.
    host.started().then(
      (rt) => (this.#destination = rt.destinations.destination(dest.service, dest.namespace)),
      // The mesh did not start: the transport's calls fail on their own; without a budget nothing is retried.
      () => {},
    );
  }

  /** Tries a call may make in all: the option, else the destination's retry policy; 1 before the mesh started. */
  attempts(): number {
    const d = this.#destination;
    if (d === undefined) return 1;
    return this.#attempts ?? d.policy.retryPolicy.attempts;
  }

  /** A call that may be retried starts: it counts toward the budget's base. */
  deposit(): void {
    this.#destination?.policy.retryBudget.deposit();
  }

  retriesOn(code: number): boolean {
    return this.#on.has(code);
  }

  /** One retry from the destination's budget (the one its HTTP calls spend); false when it is spent. */
  withdraw(): boolean {
    const d = this.#destination;
    return d !== undefined && d.policy.retryBudget.tryWithdraw();
  }

  /** The destination's backoff (full jitter) before retry number `retry` (0 for the first). */
  backoffMs(retry: number): number {
    return this.#destination!.policy.retryPolicy.backoffMs(retry);
  }

  /** Each retry decision reaches the hooks and the retry counters as the HTTP ones do. */
  retryEvent(e: RetryHookEvent): void {
    if (this.#events.has('retry')) this.#events.emit('retry', e);
  }

  startSpan(options: InterceptorOptions, metadata: Metadata): Span | undefined {
    const t = this.telemetry;
    return t === undefined ? undefined : startClientSpan(t, options.method_definition.path, this.dest, metadata);
  }
}
