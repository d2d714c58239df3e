/**
 * What a mesh call is, as its telemetry (client-call.ts) reads it: where it
 * is sent (ClientTarget, RoutedBackend: resolved once per destination or
 * backend) and what is known of it when it ends (CallFacts). Structural
 * views of the client's own objects, so src/telemetry imports nothing of
 * src/client.
 */
import type { EdgeCounter, RouteCounter } from './traffic.js';

/**
 * What the telemetry reads of the call when it ends — the route rule that
 * matched, the subset it went to, the endpoint of the last attempt, the tries
 * made. A structural view of the client's MeshCall, so src/telemetry imports
 * nothing of src/client; read once, at the end, so no layer has to tell it.
 */
export interface CallFacts {
  /** The logical tier's state of the call. */
  readonly logical: {
    readonly route: string | undefined;
    /** The matched rule's edge-stats counter (undefined: no rule steered the call). */
    readonly routeStats: RouteCounter | undefined;
    readonly backend: { readonly subset: { readonly name: string | undefined } } | undefined;
    /** 0 for the first try. */
    readonly attempt: number;
  };
  /** The endpoint of the last attempt; `info.cluster` is set for an instance imported from another cluster. */
  readonly endpoint: { readonly id: string; readonly info: { readonly cluster?: string | undefined } } | undefined;
  /** The logical origin the application called (`http://api`, `http://api:8080`): server.port. */
  readonly opts: { readonly origin?: string | { readonly port: string; readonly protocol: string } | undefined };
  /**
   * One request header (lower-case name): with no SDK and no incoming request in the storage, the access
   * log names the trace of the traceparent the call itself carries (one the gateway set from its request).
   */
  header?(name: string): string | undefined;
}

/** semconv's server.port: the logical URL's port, or its scheme's default. */
export function originPort(origin: CallFacts['opts']['origin']): number {
  if (origin === undefined) return 80;
  if (typeof origin !== 'string') return origin.port ? Number(origin.port) : origin.protocol === 'https:' ? 443 : 80;
  const host = origin.indexOf('//') + 2;
  const end = origin.indexOf('/', host);
  const authority = end < 0 ? origin.slice(host) : origin.slice(host, end);
  const colon = authority.lastIndexOf(':');
  if (colon > authority.lastIndexOf(']')) {
    const port = Number(authority.slice(colon + 1));
    if (Number.isInteger(port) && port > 0) return port;
  }
  return origin.startsWith('https:') ? 443 : 80;
}

/** The destination side of a call, resolved once per destination stack (or per pass-through origin). */
export interface ClientTarget {
  /** The mesh service, or a pass-through call's host. */
  readonly destination: string;
  readonly namespace: string;
  readonly edge: EdgeCounter;
  /** A host that is not a mesh service: its origin (`https://pay.example.com:8443`) names url.full, and no hyphae.destination.* is set. */
  readonly external?: string | undefined;
  /**
   * The destination only carries the call (an ingress gateway's: its Gateway's routes decide where it goes):
   * nobody asked for it, so nothing names it nor counts it as in flight; the backend the rule chose is
   * named from `routed()` on, url.full included.
   */
  readonly carrier?: boolean | undefined;
}

/**
 * A route rule's backend as telemetry sees it (client/logical/routing/backend.ts): the service it sends to,
 * and that service's target, which telemetry fills on the backend's first call (once per compiled backend).
 */
export interface RoutedBackend {
  readonly destination: { readonly name: string; readonly namespace: string };
  sentTo: ClientTarget | undefined;
}
