/**
 * The mesh's LB policy for grpc-js (`hyphae_mesh`, chosen by the service config
 * meshGrpcClient puts in the channel options): one subchannel per endpoint of
 * the destination, kept connected (as round_robin keeps its children), and a
 * picker (picker.ts) that picks with the mesh's own balancer among the READY
 * ones. Not grpc-js's pick_first or round_robin: those would balance on what
 * one channel sees, where the mesh's balancer reads what every call of the
 * process to that service (HTTP and gRPC) has taught it, and honours the
 * Service's balancer, tiers and outlier ejections.
 *
 * A connection that fails to come up (refused, reset, a TLS handshake or
 * SPIFFE check that fails) counts as one failure of the endpoint for outlier
 * detection, as a connect error does on the HTTP side.
 */
import { connectivityState, experimental, type ChannelOptions } from '@grpc/grpc-js';
import type { Destination } from '../client/destination.js';
import type { Endpoint } from '../client/endpoint/endpoint.js';
import { DESTINATION_ATTRIBUTE, ENDPOINTS_ATTRIBUTE } from './resolver.js';
import { MeshPicker, reportOutcome, unavailable, type ReadyConnection } from './picker.js';

export const LB_POLICY = 'hyphae_mesh';

class MeshLbConfig implements experimental.TypedLoadBalancingConfig {
  getLoadBalancerName(): string {
    return LB_POLICY;
  }

  toJsonObject(): object {
    return { [LB_POLICY]: {} };
  }

  static createFromJson(): MeshLbConfig {
    return new MeshLbConfig();
  }
}

/** The channel options that select this policy. */
export function meshServiceConfig(): string {
  return JSON.stringify({ loadBalancingConfig: [{ [LB_POLICY]: {} }] });
}

interface Child extends ReadyConnection {
  readonly endpoint: Endpoint;
  readonly address: string;
  readonly listener: experimental.ConnectivityStateListener;
}

class MeshLoadBalancer implements experimental.LoadBalancer {
  readonly #helper: experimental.ChannelControlHelper;
  #children = new Map<Endpoint, Child>();
  /** The same endpoints by their subchannel's address (what a call's getPeer() says), for the pickers. */
  #byAddress = new Map<string, Endpoint>();
  #destination: Destination | undefined;
  #lastError: string | null = null;
  #destroyed = false;

  constructor(helper: experimental.ChannelControlHelper) {
    this.#helper = helper;
  }

  /** Why the resolver's list is what it is (the mesh closed), told with a call that finds no endpoint. */
  #note = '';

  updateAddressList(list: experimental.StatusOr<experimental.Endpoint[]>, _config: experimental.TypedLoadBalancingConfig, options: ChannelOptions, note: string): boolean {
    if (!list.ok) {
      // Discovery failed: the endpoints known so far stay in use (fail static), as on the HTTP side.
      if (this.#children.size === 0) this.#helper.updateState(connectivityState.TRANSIENT_FAILURE, unavailable(list.error.details), list.error.details);
      return true;
    }
    const dest = options[DESTINATION_ATTRIBUTE] as Destination | undefined;
    const endpoints = options[ENDPOINTS_ATTRIBUTE] as readonly Endpoint[] | undefined;
    if (dest === undefined || endpoints === undefined || endpoints.length !== list.value.length) return false;
    this.#destination = dest;
    this.#note = note;
    const args = subchannelArgs(options);
    const next = new Map<Endpoint, Child>();
    const byAddress = new Map<string, Endpoint>();
    const fresh: Child[] = [];
    for (let i = 0; i < endpoints.length; i++) {
      const ep = endpoints[i]!;
      const sa = list.value[i]!.addresses[0]!;
      const address = experimental.subchannelAddressToString(sa);
      byAddress.set(address, ep);
      const kept = this.#children.get(ep);
      if (kept !== undefined && kept.address === address) {
        next.set(ep, kept);
        continue;
      }
      const subchannel = this.#helper.createSubchannel(sa, args);
      const child: Child = { endpoint: ep, address, subchannel, session: {}, listener: (_sc, _prev, state, _keepalive, error) => this.#onState(child, state, error) };
      subchannel.ref();
      subchannel.addConnectivityStateListener(child.listener);
      next.set(ep, child);
      fresh.push(child);
    }
    for (const [ep, child] of this.#children) if (next.get(ep) !== child) release(child);
    this.#children = next;
    this.#byAddress = byAddress;
    for (const child of fresh) child.subchannel.startConnecting();
    this.#update();
    return true;
  }

  #onState(child: Child, state: connectivityState, error: string | undefined): void {
    if (this.#destroyed || this.#children.get(child.endpoint) !== child) return;
    // Whatever the change, the connection calls were picked on is not the one from now on.
    child.session = {};
    if (state === connectivityState.TRANSIENT_FAILURE) {
      if (error) this.#lastError = error;
      if (this.#destination) reportOutcome(this.#destination, child.endpoint, 'failure');
    }
    // Every endpoint stays connected (grpc-js's subchannel goes IDLE after a GOAWAY or an idle timeout).
    if (state === connectivityState.IDLE) child.subchannel.startConnecting();
    this.#update();
  }

  #update(): void {
    if (this.#destroyed) return;
    const dest = this.#destination;
    const ready = new Map<Endpoint, ReadyConnection>();
    let connecting = false;
    for (const child of this.#children.values()) {
      const state = child.subchannel.getConnectivityState();
      if (state === connectivityState.READY) ready.set(child.endpoint, child);
      else if (state === connectivityState.CONNECTING || state === connectivityState.IDLE) connecting = true;
    }
    const name = dest?.name ?? '?';
    if (dest !== undefined && ready.size > 0) {
      this.#helper.updateState(connectivityState.READY, new MeshPicker(dest, ready, this.#byAddress), null);
    } else if (this.#children.size === 0) {
      const details = this.#note ? `hyphae: service ${name}: ${this.#note}` : `hyphae: service ${name} has no endpoints (HYPHAE_ERR_NO_ENDPOINTS)`;
      this.#helper.updateState(connectivityState.TRANSIENT_FAILURE, unavailable(details), details);
    } else if (connecting) {
      this.#helper.updateState(connectivityState.CONNECTING, new experimental.QueuePicker(this), null);
    } else {
      const details = `hyphae: no connection to any of the ${this.#children.size} endpoints of service ${name}; last error: ${this.#lastError ?? 'none'}`;
      this.#helper.updateState(connectivityState.TRANSIENT_FAILURE, unavailable(details), details);
    }
  }

  exitIdle(): void {
    for (const child of this.#children.values()) if (child.subchannel.getConnectivityState() === connectivityState.IDLE) child.subchannel.startConnecting();
  }

  resetBackoff(): void {
    // Each subchannel keeps its own reconnect backoff.
  }

  destroy(): void {
    this.#destroyed = true;
    for (const child of this.#children.values()) release(child);
    this.#children.clear();
  }

  getTypeName(): string {
    return LB_POLICY;
  }
}

function release(child: Child): void {
  child.subchannel.removeConnectivityStateListener(child.listener);
  child.subchannel.unref();
}

/** The channel's options without what the resolver attached for this policy (objects, not subchannel settings). */
function subchannelArgs(options: ChannelOptions): ChannelOptions {
  const { [DESTINATION_ATTRIBUTE]: _d, [ENDPOINTS_ATTRIBUTE]: _e, ...rest } = options;
  return rest;
}

let registered = false;

/** Registers the policy with grpc-js, once per process. */
export function registerMeshBalancer(): void {
  if (registered) return;
  registered = true;
  experimental.registerLoadBalancerType(LB_POLICY, MeshLoadBalancer, MeshLbConfig);
}
