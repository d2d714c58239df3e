/**
 * The mesh LB policy's picker: one per set of READY subchannels (balancer.ts
 * makes a new one whenever a subchannel's state changes). It asks the mesh's
 * own view of the destination (`endpoints.all`: the Service's balancer,
 * peak_ewma by default, over its locality and failover tiers, ejected endpoints
 * left out) and steps past what has no READY connection, so a gRPC call is
 * balanced exactly as an HTTP call to the same service and on the same numbers:
 * each call counts in the Endpoint's in-flight count and latency, and its status
 * goes to the destination's outlier detector. A retry also steps past the
 * endpoints earlier attempts of its call failed on, named in its metadata
 * (failed-endpoints.ts), while it has a choice, as an HTTP retry does.
 */
import { experimental, Metadata, status, type StatusObject } from '@grpc/grpc-js';
import type { Destination } from '../client/destination.js';
import type { PickContext } from '../client/concrete/balancer.js';
import { RequestHeaders } from '../client/call/request-headers.js';
import type { Endpoint } from '../client/endpoint/endpoint.js';
import { healthOf } from '../client/endpoint/outlier.js';
import type { HealthOutcome } from '../resilience/outlier-detector.js';
import { takeFailedEndpoints } from './failed-endpoints.js';

type Subchannel = experimental.SubchannelInterface;

/**
 * What a call's gRPC status says of the endpoint that answered (as src/client/endpoint/outlier.ts reads an
 * HTTP attempt): the server or its connection failing is a failure; the call's own end (CANCELLED) says
 * nothing; any other answer, an error the application chose included, shows a working server.
 */
export function endpointOutcome(code: number): HealthOutcome {
  switch (code) {
    case status.UNAVAILABLE:
    case status.INTERNAL:
    case status.UNKNOWN:
    case status.DATA_LOSS:
      return 'failure';
    case status.CANCELLED:
      return 'neutral';
    default:
      return 'success';
  }
}

/** A READY subchannel, and the connection it is on now: a new object whenever its state changes (balancer.ts). */
export interface ReadyConnection {
  readonly subchannel: Subchannel;
  session: object;
}

/** One call on one endpoint: counted in flight from its start, judged and timed at its end. */
class CallOnEndpoint {
  #started = 0;
  readonly #session: object;
  constructor(
    readonly endpoint: Endpoint,
    readonly destination: Destination,
    readonly connection: ReadyConnection,
  ) {
    this.#session = connection.session;
  }

  readonly onCallStarted = (): void => {
    const ep = this.endpoint;
    ep.inflight++;
    healthOf(ep, this.destination.outlier)?.onSend();
    this.#started = performance.now();
  };

  readonly onCallEnded = (code: number): void => {
    const ep = this.endpoint;
    ep.inflight--;
    let outcome = endpointOutcome(code);
    // A dropped connection ends every call on it UNAVAILABLE (grpc-js moves the subchannel out of READY first): one
    // failure of the endpoint, counted once, as one HTTP/2 session's error is (client/endpoint/outlier.ts).
    if (outcome === 'failure' && this.connection.session !== this.#session) {
      if (ep.lastFailure === this.#session) outcome = 'neutral';
      else ep.lastFailure = this.#session;
    }
    // The whole call's time (grpc-js tells the policy nothing of response headers); a cancelled call's is not a sample.
    if (outcome !== 'neutral') {
      const now = performance.now();
      ep.latency.observe(now - this.#started, now);
    }
    reportOutcome(this.destination, ep, outcome);
  };
}

/** An outcome to the endpoint's health record; a failure through the destination's judge, which tells the mesh of an ejection. */
export function reportOutcome(dest: Destination, ep: Endpoint, outcome: HealthOutcome): void {
  const judge = dest.outlier;
  const health = healthOf(ep, judge);
  if (health === undefined) return;
  if (outcome === 'failure' && judge !== undefined) judge.report(undefined, health, outcome);
  else health.report(outcome);
}

export class MeshPicker implements experimental.Picker, PickContext {
  readonly #destination: Destination;
  readonly #ready: ReadonlyMap<Endpoint, ReadyConnection>;
  readonly #list: readonly Endpoint[];
  /** Every endpoint of the channel (READY or not) by its subchannel's address: what a retry's metadata names. */
  readonly #byAddress: ReadonlyMap<string, Endpoint>;
  /** The metadata of the pick under way, read only if the Service's balancer hashes a header. */
  #metadata: Metadata | undefined;
  #headers: RequestHeaders | undefined;
  /** The endpoints earlier attempts of the call being picked for failed on; undefined on a first attempt. */
  #failed: Endpoint[] | undefined;

  constructor(destination: Destination, ready: ReadonlyMap<Endpoint, ReadyConnection>, byAddress: ReadonlyMap<string, Endpoint>) {
    this.#destination = destination;
    this.#ready = ready;
    this.#list = [...ready.keys()];
    this.#byAddress = byAddress;
  }

  get headers(): RequestHeaders {
    return (this.#headers ??= RequestHeaders.from(this.#metadata?.toHttp2Headers() as Record<string, string | string[]>));
  }

  /** The mesh's balancer steps past endpoints this channel has no READY connection to, and those the call failed on. */
  avoids(ep: Endpoint): boolean {
    return !this.#ready.has(ep) || (this.#failed !== undefined && this.#failed.includes(ep));
  }

  pick(args: experimental.PickArgs): experimental.PickResult {
    const metadata = args.metadata;
    // First: taken off the metadata before a hashing balancer reads it, and before it goes on the wire.
    const failed = (this.#failed = takeFailedEndpoints(metadata, this.#byAddress));
    this.#metadata = metadata;
    this.#headers = undefined;
    // `failed` also sends a retry on to the next failover cluster, as subset.ts does for HTTP.
    const picked = this.#destination.endpoints.all.pick(this, failed);
    // Every endpoint the tiers allow is unready here (or was removed a moment ago): another READY one.
    const ep = picked !== undefined && this.#ready.has(picked) ? picked : this.#fallback();
    const connection = this.#ready.get(ep)!;
    this.#metadata = undefined;
    this.#failed = undefined;
    const call = new CallOnEndpoint(ep, this.#destination, connection);
    return {
      pickResultType: experimental.PickResultType.COMPLETE,
      subchannel: connection.subchannel,
      status: null,
      onCallStarted: call.onCallStarted,
      onCallEnded: call.onCallEnded,
    };
  }

  /**
   * A READY endpoint from a random place: available, not failed on by this call and healthy first, then
   * available and not failed on, then available, then any (never none: there is one).
   */
  #fallback(): Endpoint {
    const list = this.#list;
    const failed = this.#failed;
    const n = list.length;
    const start = Math.floor(Math.random() * n);
    let best = list[start]!;
    let bestRank = 0;
    for (let i = 0; i < n; i++) {
      const ep = list[(start + i) % n]!;
      if (!ep.available) continue;
      const rank = failed !== undefined && failed.includes(ep) ? 1 : ep.healthy ? 3 : 2;
      if (rank === 3) return ep;
      if (rank > bestRank) {
        best = ep;
        bestRank = rank;
      }
    }
    return best;
  }
}

/** Calls fail at once with `details` (no endpoint, or none connects). */
export function unavailable(details: string): experimental.Picker {
  const s: Partial<StatusObject> = { code: status.UNAVAILABLE, details, metadata: new Metadata() };
  return new experimental.UnavailablePicker(s);
}
