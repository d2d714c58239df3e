/**
 * A service this process calls: its discovery state, endpoint set, balancer and
 * the client stack built for it. Created on the first call to the service and
 * shared by every later one.
 */
import { ErrorCode, MeshError } from '../core/errors.js';
import type { Disposer } from '../core/events.js';
import type { Handler } from '../core/filter.js';
import type { ServiceKey } from '../discovery/resolver.js';
import type { ServiceState, WatchCache } from '../discovery/watch-cache.js';
import type { Attempt } from './attempt.js';
import type { Balancer } from './balancer.js';
import { RoundRobinBalancer } from './balancers/round-robin.js';
import type { MeshCall } from './call.js';
import type { PoolFactory } from './endpoint.js';
import { EndpointSet } from './endpoint-set.js';
import { buildClientStack } from './stack.js';

export interface DestinationOptions {
  cache: WatchCache;
  poolFactory?: PoolFactory;
  /** A pool factory that needs the destination itself (the mTLS connector reads its mode and identity); wins over poolFactory. */
  poolFactoryFor?: (dest: Destination) => PoolFactory;
  /** How long a call waits for discovery's first answer about this service. */
  discoveryTimeoutMs: number;
}

interface Waiter {
  resolve: () => void;
  reject: (err: Error) => void;
}

export class Destination {
  readonly name: string;
  readonly namespace: string;
  readonly endpoints: EndpointSet;
  balancer: Balancer = new RoundRobinBalancer();
  readonly handle: Handler<MeshCall, Attempt>;
  #state: ServiceState = { status: 'pending' };
  #error: MeshError | undefined;
  #waiters = new Set<Waiter>();
  #dispose: Disposer;
  #discoveryTimeoutMs: number;

  constructor(key: ServiceKey, options: DestinationOptions) {
    this.name = key.name;
    this.namespace = key.namespace;
    this.endpoints = new EndpointSet(options.poolFactoryFor?.(this) ?? options.poolFactory);
    this.#discoveryTimeoutMs = options.discoveryTimeoutMs;
    this.handle = buildClientStack(this);
    this.#dispose = options.cache.subscribe(key, (s) => (s instanceof MeshError ? this.#onError(s) : this.#onState(s)));
  }

  get isReady(): boolean {
    return this.#state.status === 'ready';
  }

  get state(): ServiceState {
    return this.#state;
  }

  /** Resolves once discovery knows the service; rejects with its documented error otherwise. */
  whenReady(call: MeshCall): Promise<void> {
    const now = this.#outcome();
    if (now === true) return Promise.resolve();
    if (now) return Promise.reject(now);
    return new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => {
        done();
        reject(
          new MeshError(ErrorCode.CONTROL_PLANE_UNREACHABLE, `no answer about service ${this.name} within ${this.#discoveryTimeoutMs} ms`, {
            rejected: true,
            details: { service: this.name },
          }),
        );
      }, this.#discoveryTimeoutMs);
      const waiter: Waiter = {
        resolve: () => {
          done();
          resolve();
        },
        reject: (err) => {
          done();
          reject(err);
        },
      };
      const done = () => {
        clearTimeout(timer);
        this.#waiters.delete(waiter);
        call.setOnAbort(undefined);
      };
      this.#waiters.add(waiter);
      call.setOnAbort((err) => waiter.reject(err));
    });
  }

  /** true when calls may go ahead, the error they get, or undefined while discovery has not answered. */
  #outcome(): true | MeshError | undefined {
    switch (this.#state.status) {
      case 'ready':
        return true;
      case 'not-found':
        return this.#notFound();
      default:
        return this.#error;
    }
  }

  #notFound(): MeshError {
    return new MeshError(ErrorCode.SERVICE_NOT_FOUND, `service ${this.name} is not known to the mesh (namespace ${this.namespace})`, {
      rejected: true,
      details: { service: this.name, namespace: this.namespace },
    });
  }

  #onState(s: ServiceState): void {
    this.#state = s;
    this.#error = undefined;
    if (s.status === 'ready') this.endpoints.reset(s.endpoints);
    else if (s.status === 'not-found') this.endpoints.reset([]);
    const outcome = this.#outcome();
    if (outcome === undefined) return;
    for (const w of [...this.#waiters]) {
      if (outcome === true) w.resolve();
      else w.reject(outcome);
    }
  }

  /** Discovery failed: calls waiting for a first answer fail now; a known state stays in force (fail static). */
  #onError(err: MeshError): void {
    if (this.#state.status !== 'pending') return;
    this.#error = err;
    for (const w of [...this.#waiters]) w.reject(err);
  }

  async close(): Promise<void> {
    this.#dispose();
    const err = new MeshError(ErrorCode.MESH_CLOSED, 'the mesh was closed', { rejected: true });
    for (const w of [...this.#waiters]) w.reject(err);
    await this.endpoints.close();
  }
}
