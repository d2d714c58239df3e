/**
 * The `hyphae:` name resolver: `hyphae:///<service>[.<namespace>]` resolves to the
 * endpoints the mesh's discovery knows for that service, pushed to grpc-js every
 * time the Destination's EndpointSet changes (instances coming and going reach
 * the channel live, with no polling). The LB policy (balancer.ts) gets the
 * Destination and its Endpoint objects beside the addresses, so gRPC and HTTP
 * calls to one service share in-flight counts, latency and outlier state.
 *
 * grpc-js keeps one resolver class per scheme for the whole process, while a
 * process may run several meshes: a channel names its mesh by a key in its
 * options (meshGrpcClient puts it there), looked up here.
 *
 * Before discovery's first answer the resolver says nothing, so calls queue
 * (the channel is CONNECTING), as HTTP calls wait for discovery; past the
 * mesh's discoveryTimeoutMs it reports the failure and calls end UNAVAILABLE
 * with the reason. A service with no endpoint is reported as an empty list: the
 * LB policy fails calls at once naming the service (HTTP: HYPHAE_ERR_NO_ENDPOINTS).
 */
import { experimental, Metadata, status, type ChannelOptions } from '@grpc/grpc-js';
import { ErrorCode, MeshError } from '../core/errors.js';
import type { Disposer } from '../core/events.js';
import type { Destination } from '../client/destination.js';
import type { Endpoint } from '../client/endpoint/endpoint.js';
import type { AdapterHost } from '../mesh/adapter-host.js';
import { nameSchema } from '../config/names.js';
import { outsideRequestContext } from '../resilience/request-context.js';

export const SCHEME = 'hyphae';
/** Channel option naming the mesh a channel resolves through (a string: grpc-js may log options as JSON). */
export const MESH_OPTION = 'hyphae.mesh';
/** Resolver attributes the LB policy reads (never passed on to subchannels: balancer.ts strips them). */
export const DESTINATION_ATTRIBUTE = 'hyphae.destination';
export const ENDPOINTS_ATTRIBUTE = 'hyphae.endpoints';

/** What the resolver hands the LB policy beside the address list, index for index. */
export interface MeshResolution {
  destination: Destination;
  endpoints: readonly Endpoint[];
}

/** A target is at most a DNS label, a dot and another: longer input is refused before any parsing. */
const MAX_TARGET = 2 * 63 + 1;

export interface ServiceTarget {
  service: string;
  /** undefined: the mesh's own namespace. */
  namespace: string | undefined;
}

/** `api` or `api.payments` (a target's path); throws HYPHAE_ERR_INVALID_OPTIONS for anything else. */
export function parseServiceTarget(path: string): ServiceTarget {
  const invalid = (why: string) =>
    new MeshError(ErrorCode.INVALID_OPTIONS, `hyphae/grpc: "${path.slice(0, 80)}" is not a mesh service target (hyphae:///<service>[.<namespace>]): ${why}`, {
      details: { target: path.slice(0, 80) },
    });
  if (path.length === 0 || path.length > MAX_TARGET) throw invalid('expected a service name and an optional namespace');
  const dot = path.indexOf('.');
  const service = dot < 0 ? path : path.slice(0, dot);
  const namespace = dot < 0 ? undefined : path.slice(dot + 1);
  for (const name of namespace === undefined ? [service] : [service, namespace]) {
    const r = nameSchema.safeParse(name);
    if (!r.success) throw invalid(`"${name}" ${r.error.issues[0]?.message ?? 'is not a valid name'}`);
  }
  return { service, namespace };
}

/** The whole URI: `hyphae:///...` only (an authority would name another resolver's server; none is meant). */
function parseTargetUri(target: experimental.GrpcUri): ServiceTarget {
  if (target.authority) {
    throw new MeshError(ErrorCode.INVALID_OPTIONS, 'hyphae/grpc: a mesh service target has no authority: hyphae:///<service>[.<namespace>]', { details: { target: target.path.slice(0, 80) } });
  }
  return parseServiceTarget(target.path);
}

export function serviceTarget(t: ServiceTarget): string {
  return `${SCHEME}:///${t.namespace === undefined ? t.service : `${t.service}.${t.namespace}`}`;
}

interface MeshChannels {
  host: AdapterHost;
  /** The live resolvers of the mesh's channels: told when the mesh closes. */
  resolvers: Set<MeshResolver>;
}

const hosts = new Map<string, MeshChannels>();
const keys = new WeakMap<AdapterHost, string>();
let lastKey = 0;

/**
 * The key that names `host` in a channel's options. The mesh's close() forgets it and empties its channels'
 * endpoint lists, so their calls fail as the mesh's HTTP calls do from then on (HYPHAE_ERR_MESH_CLOSED).
 */
export function meshKey(host: AdapterHost): string {
  let key = keys.get(host);
  if (key === undefined) {
    const k = String(++lastKey);
    const channels: MeshChannels = { host, resolvers: new Set() };
    // Throws HYPHAE_ERR_MESH_CLOSED on a closed mesh: no client is made for it.
    host.onClose(() => {
      hosts.delete(k);
      keys.delete(host);
      for (const r of channels.resolvers) r.meshClosed();
      channels.resolvers.clear();
      return Promise.resolve();
    });
    keys.set(host, k);
    hosts.set(k, channels);
    key = k;
  }
  return key;
}

const CLOSED_NOTE = 'the mesh was closed (HYPHAE_ERR_MESH_CLOSED)';

/** Never aborted: a resolver's wait ends with discovery's answer or its timeout. */
const NO_ABORT = { setOnAbort: () => undefined };

class MeshResolver implements experimental.Resolver {
  readonly #listener: experimental.ResolverListener;
  readonly #channels: MeshChannels | undefined;
  readonly #host: AdapterHost | undefined;
  readonly #target: ServiceTarget | MeshError;
  #destination: Destination | undefined;
  #unfollow: Disposer | undefined;
  #resolving = false;
  #destroyed = false;
  #meshClosed = false;

  constructor(target: experimental.GrpcUri, listener: experimental.ResolverListener, options: ChannelOptions) {
    this.#listener = listener;
    const key = options[MESH_OPTION];
    this.#channels = typeof key === 'string' ? hosts.get(key) : undefined;
    this.#host = this.#channels?.host;
    this.#channels?.resolvers.add(this);
    let parsed: ServiceTarget | MeshError;
    try {
      parsed = parseTargetUri(target);
    } catch (err) {
      parsed = err as MeshError;
    }
    this.#target = parsed;
  }

  updateResolution(): void {
    this.#destroyed = false;
    this.#channels?.resolvers.add(this);
    if (this.#meshClosed) return queueMicrotask(() => this.#reportClosed());
    if (this.#resolving) return;
    this.#resolving = true;
    // Never synchronously with updateResolution (the listener contract): the first answer is a promise away.
    // The channel's resolution serves every later call: the inbound request that made the first one must not bound it.
    void outsideRequestContext(() => this.#resolve()).finally(() => (this.#resolving = false));
  }

  async #resolve(): Promise<void> {
    try {
      const dest = await this.#dest();
      await dest.whenReady(NO_ABORT);
      this.#report();
    } catch (err) {
      this.#fail(err);
    }
  }

  async #dest(): Promise<Destination> {
    if (this.#destination) return this.#destination;
    if (this.#target instanceof MeshError) throw this.#target;
    if (!this.#host)
      throw new MeshError(ErrorCode.INVALID_OPTIONS, 'hyphae/grpc: this channel has no mesh (make it with meshGrpcClient(mesh, ...), whose options name the mesh), or its mesh was closed');
    const runtime = await this.#host.started();
    const { service, namespace } = this.#target;
    const dest = runtime.destinations.destination(service, namespace ?? this.#host.options.namespace);
    if (!this.#destination) {
      this.#destination = dest;
      // Discovery's later answers: pushed as they come (the EndpointSet changes once per answer).
      this.#unfollow = dest.endpoints.onChange(() => {
        if (!this.#destroyed && dest.isReady) this.#report();
      });
    }
    return this.#destination;
  }

  /** The mesh closed: no endpoint from now on (the LB policy fails calls with the note). */
  meshClosed(): void {
    this.#meshClosed = true;
    this.#unfollow?.();
    this.#unfollow = undefined;
    this.#reportClosed();
  }

  #reportClosed(): void {
    const dest = this.#destination;
    if (this.#destroyed || !dest) return this.#fail(new MeshError(ErrorCode.MESH_CLOSED, 'the mesh was closed'));
    this.#listener(experimental.statusOrFromValue([]), { [DESTINATION_ATTRIBUTE]: dest, [ENDPOINTS_ATTRIBUTE]: [] }, null, CLOSED_NOTE);
  }

  #report(): void {
    const dest = this.#destination;
    if (this.#destroyed || this.#meshClosed || !dest) return;
    const endpoints = dest.endpoints.list;
    const addresses = endpoints.map((ep) => ({ addresses: [{ host: ep.info.address, port: ep.info.port }] }));
    const resolution: MeshResolution = { destination: dest, endpoints };
    this.#listener(experimental.statusOrFromValue(addresses), { [DESTINATION_ATTRIBUTE]: resolution.destination, [ENDPOINTS_ATTRIBUTE]: resolution.endpoints }, null, '');
  }

  #fail(err: unknown): void {
    if (this.#destroyed) return;
    const name = this.#target instanceof MeshError ? '?' : this.#target.service;
    // The mesh's errors name the service already (discovery's, the readiness wait's); anything else is told with it.
    const details = err instanceof MeshError ? `hyphae: ${err.message} (${err.code})` : `hyphae: service ${name}: ${String(err)}`;
    this.#listener(experimental.statusOrFromError({ code: status.UNAVAILABLE, details, metadata: new Metadata() }), {}, null, details);
  }

  destroy(): void {
    this.#destroyed = true;
    this.#channels?.resolvers.delete(this);
    this.#unfollow?.();
    this.#unfollow = undefined;
    this.#destination = undefined;
  }

  static getDefaultAuthority(target: experimental.GrpcUri): string {
    // Checked here first: grpc-js asks as the channel is made, so a bad target fails the client's construction.
    parseTargetUri(target);
    return target.path;
  }
}

let registered = false;

/** Registers the `hyphae:` scheme with grpc-js, once per process (every mesh shares it). */
export function registerMeshResolver(): void {
  if (registered) return;
  registered = true;
  experimental.registerResolver(SCHEME, MeshResolver);
}
