/**
 * A test seam for issue 17 until discovery carries an instance's cluster: the control plane's own resolver
 * (watch stream, snapshots), with each endpoint given the cluster named by one of its labels, as an
 * instance imported from that peer would arrive. Everything else passes through unchanged.
 */
import { ControlPlaneClient } from '../../src/discovery/control-plane-client.js';
import { ControlPlaneResolver } from '../../src/discovery/control-plane-resolver.js';
import type { EndpointInfo, Resolver, ResolverUpdate, ServiceKey } from '../../src/discovery/resolver.js';
import { WatchStream } from '../../src/discovery/watch-stream.js';
import type { Disposer } from '../../src/core/events.js';
import { silentLogger } from '../../src/core/logger.js';
import type { ClusterEndpointInfo } from '../../src/client/concrete/tiers.js';

export class ClusterTagResolver implements Resolver {
  readonly #stream: WatchStream;
  readonly #inner: ControlPlaneResolver;
  readonly #label: string;

  /** `url`: a plain (--insecure) control plane; `label`: the instance label whose value becomes `cluster`. */
  constructor(url: string, label: string) {
    this.#stream = new WatchStream(new ControlPlaneClient([url]), silentLogger);
    this.#inner = new ControlPlaneResolver(this.#stream);
    this.#label = label;
  }

  watch(service: ServiceKey, listener: (update: ResolverUpdate) => void): Disposer {
    return this.#inner.watch(service, (u) => {
      if (u.type === 'reset') listener({ ...u, endpoints: u.endpoints.map((e) => this.#tag(e)) });
      else if (u.type === 'add') listener({ ...u, endpoint: this.#tag(u.endpoint) });
      else listener(u);
    });
  }

  #tag(e: EndpointInfo): ClusterEndpointInfo {
    const cluster = e.labels[this.#label];
    return cluster === undefined ? e : { ...e, cluster };
  }

  async close(): Promise<void> {
    await this.#inner.close();
    await this.#stream.close();
  }
}
