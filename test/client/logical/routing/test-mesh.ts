/**
 * The client stack without a Mesh: a StaticResolver, a WatchCache, the
 * destinations and a MeshDispatcher, so tests can reach a destination's
 * internals (mirror counters, subsets) while requests go over real sockets.
 */
import { Agent, request, type Dispatcher } from 'undici';
import { Destination } from '../../../../src/client/destination.js';
import { MeshDispatcher } from '../../../../src/client/dispatcher.js';
import { meshServiceOf } from '../../../../src/client/call/url.js';
import { StaticResolver } from '../../../../src/discovery/static-resolver.js';
import { WatchCache } from '../../../../src/discovery/watch-cache.js';

export type RequestOpts = Omit<Dispatcher.RequestOptions, 'origin' | 'path' | 'method'> & { method?: Dispatcher.HttpMethod };

/** What test/helpers/labelled-servers.ts answers. */
export interface Echo {
  name: string;
  url: string;
  headers: Record<string, string>;
  body: string;
}

export class TestMesh {
  readonly resolver = new StaticResolver();
  readonly cache = new WatchCache(this.resolver);
  readonly dispatcher: MeshDispatcher;
  readonly warnings: string[] = [];
  #dests = new Map<string, Destination>();
  #agent = new Agent();

  constructor(readonly callerLabels: Record<string, string> = {}) {
    this.dispatcher = new MeshDispatcher(
      {
        route: (origin) => {
          const name = meshServiceOf(String(origin));
          return name === undefined ? undefined : this.dest(name);
        },
        passthroughUnknown: false,
      },
      this.#agent,
    );
  }

  dest(name: string, namespace = 'default'): Destination {
    const key = `${namespace}/${name}`;
    let d = this.#dests.get(key);
    if (!d) {
      const warn = (m: string) => this.warnings.push(m);
      d = new Destination(
        { namespace, name },
        {
          cache: this.cache,
          discoveryTimeoutMs: 2000,
          callerLabels: this.callerLabels,
          destinations: (ns, n) => this.dest(n, ns),
          logger: { debug: () => {}, info: () => {}, warn, error: warn },
        },
      );
      this.#dests.set(key, d);
    }
    return d;
  }

  request(url: string, opts: RequestOpts = {}): Promise<Dispatcher.ResponseData> {
    return request(url, { ...opts, dispatcher: this.dispatcher });
  }

  /** GET and parse the echo server's answer. */
  async json<T = Echo>(url: string, opts: RequestOpts = {}): Promise<T & { status: number }> {
    const res = await this.request(url, opts);
    const text = await res.body.text();
    return { ...(JSON.parse(text || '{}') as T), status: res.statusCode };
  }

  async close(): Promise<void> {
    await Promise.all([...this.#dests.values()].map((d) => d.close()));
    await this.cache.close();
    await this.#agent.close();
  }
}
