/**
 * Instances "imported" without a peer cluster (issue 17's failover tests): another resolver (the control
 * plane's, or a static one) with each endpoint given the cluster named by one of its labels, as an instance
 * imported from that peer would arrive. Everything else passes through unchanged.
 */
import { ControlPlaneClient } from '../../src/discovery/control-plane-client.js';
import { ControlPlaneResolver } from '../../src/discovery/control-plane-resolver.js';
import type { EndpointInfo, Resolver, ResolverUpdate, ServiceKey } from '../../src/discovery/resolver.js';
import { WatchStream } from '../../src/discovery/watch-stream.js';
import type { Disposer } from '../../src/core/events.js';
import { silentLogger } from '../../src/core/logger.js';

export class ClusterTagResolver implements Resolver {
  readonly #inner: Resolver;
  readonly #label: string;
  readonly #closeInner: () => Promise<void>;

  /** `label`: the instance label whose value becomes `cluster`; `close`: how to close what `inner` runs on. */
  constructor(inner: Resolver, label: string, close: () => Promise<void> = () => inner.close()) {
    this.#inner = inner;
    this.#label = label;
    this.#closeInner = close;
  }

  /** Over the watch stream of a plain (--insecure) control plane at `url`. */
  static overControlPlane(url: string, label: string): ClusterTagResolver {
    const stream = new WatchStream(new ControlPlaneClient([url]), silentLogger);
    const inner = new ControlPlaneResolver(stream);
    return new ClusterTagResolver(inner, label, async () => {
      await inner.close();
      await stream.close();
    });
  }

  watch(service: ServiceKey, listener: (update: ResolverUpdate) => void): Disposer {
    return this.#inner.watch(service, (u) => {
      if (u.type === 'reset') listener({ ...u, endpoints: u.endpoints.map((e) => this.#tag(e)) });
      else if (u.type === 'add') listener({ ...u, endpoint: this.#tag(u.endpoint) });
      else listener(u);
    });
  }

  #tag(e: EndpointInfo): EndpointInfo {
    const cluster = e.labels[this.#label];
    return cluster === undefined ? e : { ...e, cluster };
  }

  close(): Promise<void> {
    return this.#closeInner();
  }
}
