/**
 * Where a connection with a given mesh SNI goes: a local instance of the service it names. The gateway
 * follows each service through the mesh's discovery (the shared watch cache, as any client does), from
 * the first connection that names it; it routes only to its own cluster's instances (an imported one
 * carries `cluster`, and forwarding to it would chain gateways, or loop between two).
 *
 * Balancing: least connections (this gateway's own open ones), ties broken round robin. An instance
 * whose connect failed is skipped for `downMs`, unless every instance is down.
 */
import type { Disposer } from '../core/events.js';
import type { MeshError } from '../core/errors.js';
import { parseMeshSni } from '../config/mesh-sni.js';
import type { EndpointInfo, ServiceKey } from '../discovery/resolver.js';
import type { ServiceState } from '../discovery/watch-cache.js';

/** What the router needs of discovery: the mesh's watch cache has this shape (EdgeRoutes.watchService). */
export interface ServiceWatch {
  subscribe(service: ServiceKey, listener: (s: ServiceState | MeshError) => void): Disposer;
}

export interface Backend {
  readonly id: string;
  readonly address: string;
  readonly port: number;
  /** Connections this gateway holds open to it. */
  active: number;
  /** Until when a failed connect keeps it out of the choice (ms, the router's clock). */
  downUntil: number;
}

export type RouteRefusal = 'not-mesh-sni' | 'other-cluster' | 'unknown-service' | 'no-instances' | 'too-many-services' | 'discovery-timeout';

export interface RouterOptions {
  /** This gateway's cluster: names of another are refused. */
  cluster: string;
  watch: ServiceWatch;
  /** Services followed at once; a name past it is refused (an attacker naming services at random cannot grow this). */
  maxServices: number;
  /** How long a service's first state may take to arrive. */
  discoveryTimeoutMs: number;
  /** How long an instance whose connect failed is skipped. */
  downMs: number;
  now?: () => number;
}

/** The instances of one service and how to choose among them. */
export class ServiceBackends {
  state: 'pending' | 'ready' | 'not-found' = 'pending';
  backends: Backend[] = [];
  dispose: Disposer = () => {};
  #rr = 0;
  #waiters: (() => void)[] = [];
  readonly #now: () => number;

  constructor(now: () => number) {
    this.#now = now;
  }

  /** Resolves once the first state arrived (or the timeout passed: then still 'pending'). */
  settled(timeoutMs: number): Promise<void> {
    if (this.state !== 'pending') return Promise.resolve();
    return new Promise((resolve) => {
      const timer = setTimeout(done, timeoutMs);
      function done() {
        clearTimeout(timer);
        resolve();
      }
      this.#waiters.push(done);
    });
  }

  apply(s: ServiceState | MeshError): void {
    // A discovery error keeps the last good state (fail static), as a client does.
    if (!('status' in s) || s.status === 'pending') return;
    if (s.status === 'not-found') {
      this.state = 'not-found';
      this.backends = [];
    } else {
      const before = new Map(this.backends.map((b) => [b.id, b]));
      const next: Backend[] = [];
      for (const e of s.endpoints) {
        if (!isLocal(e)) continue;
        next.push(before.get(e.id) ?? { id: e.id, address: e.address, port: e.port, active: 0, downUntil: 0 });
      }
      this.state = 'ready';
      this.backends = next;
    }
    for (const w of this.#waiters.splice(0)) w();
  }

  /** The least loaded instance not in `tried` and not down; if every untried one is down, the least loaded of those. */
  pick(tried: ReadonlySet<Backend>): Backend | undefined {
    const list = this.backends;
    const n = list.length;
    if (n === 0) return undefined;
    const now = this.#now();
    const start = this.#rr++ % n;
    let best: Backend | undefined;
    let bestDown: Backend | undefined;
    for (let i = 0; i < n; i++) {
      const b = list[(start + i) % n]!;
      if (tried.has(b)) continue;
      if (b.downUntil > now) {
        if (bestDown === undefined || b.active < bestDown.active) bestDown = b;
      } else if (best === undefined || b.active < best.active) {
        best = b;
      }
    }
    return best ?? bestDown;
  }

  markDown(b: Backend, downMs: number): void {
    b.downUntil = this.#now() + downMs;
  }
}

/** Imported instances carry their cluster (config/instance.ts); local ones never do. */
function isLocal(e: EndpointInfo): boolean {
  return e.cluster === undefined;
}

export class MeshGatewayRouter {
  readonly #o: RouterOptions;
  readonly #now: () => number;
  readonly #services = new Map<string, ServiceBackends>();

  constructor(o: RouterOptions) {
    this.#o = o;
    this.#now = o.now ?? Date.now;
  }

  get cluster(): string {
    return this.#o.cluster;
  }

  /** Services followed now. */
  get size(): number {
    return this.#services.size;
  }

  /** The instances of the service `servername` names, once discovery knows them; or why not. */
  async route(servername: string): Promise<ServiceBackends | RouteRefusal> {
    const target = parseMeshSni(servername);
    if (target === undefined) return 'not-mesh-sni';
    if (target.cluster !== this.#o.cluster) return 'other-cluster';
    const key = `${target.namespace}/${target.service}`;
    let entry = this.#services.get(key);
    if (entry === undefined) {
      if (this.#services.size >= this.#o.maxServices) return 'too-many-services';
      const e = new ServiceBackends(this.#now);
      this.#services.set(key, e);
      e.dispose = this.#o.watch.subscribe({ namespace: target.namespace, name: target.service }, (s) => {
        e.apply(s);
        // An unknown service is not kept: names invented by a peer do not stay followed.
        if (e.state === 'not-found') this.#forget(key, e);
      });
      entry = e;
    }
    await entry.settled(this.#o.discoveryTimeoutMs);
    if (entry.state === 'pending') return 'discovery-timeout';
    if (entry.state === 'not-found') return 'unknown-service';
    if (entry.backends.length === 0) return 'no-instances';
    return entry;
  }

  #forget(key: string, e: ServiceBackends): void {
    if (this.#services.get(key) !== e) return;
    this.#services.delete(key);
    // Not from inside the cache's own listener call.
    queueMicrotask(() => e.dispose());
  }

  close(): void {
    for (const e of this.#services.values()) e.dispose();
    this.#services.clear();
  }
}
