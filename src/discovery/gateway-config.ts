/**
 * A gateway process's configuration, live (issue 16): its Gateway resource's
 * spec and every Route attached to it, from the process's one watch stream.
 * Each snapshot is whole, so the latest one is the truth (a reconnect
 * re-follows the gateway and is answered with its state as it is now).
 */
import { Listeners, type Disposer } from '../core/events.js';
import { gatewayRef, type GatewaySnapshot } from '../config/wire.js';
import type { WatchStream } from './watch-stream.js';

export class GatewayConfigWatch {
  readonly key: string;
  #stream: WatchStream;
  #current: GatewaySnapshot | undefined;
  #changes = new Listeners<GatewaySnapshot>();
  #off: Disposer;
  #closed = false;

  constructor(stream: WatchStream, namespace: string, name: string) {
    this.key = gatewayRef(namespace, name);
    this.#stream = stream;
    this.#off = stream.onGatewaySnapshot((s) => {
      if (this.#closed || s.namespace !== namespace || s.name !== name) return;
      this.#current = s;
      this.#changes.emit(s);
    });
    stream.follow(this.key);
  }

  /** The last snapshot received; undefined until the control plane has answered. */
  get current(): GatewaySnapshot | undefined {
    return this.#current;
  }

  /** Every snapshot from now on (`exists: false` when the Gateway is deleted). */
  onChange(listener: (s: GatewaySnapshot) => void): Disposer {
    return this.#changes.on(listener);
  }

  /** The current snapshot, or the first one to arrive. */
  ready(signal?: AbortSignal): Promise<GatewaySnapshot> {
    if (this.#current) return Promise.resolve(this.#current);
    if (signal?.aborted) return Promise.reject(signal.reason);
    return new Promise((resolve, reject) => {
      const onAbort = () => {
        off();
        reject(signal!.reason);
      };
      const off = this.onChange((s) => {
        off();
        signal?.removeEventListener('abort', onAbort);
        resolve(s);
      });
      signal?.addEventListener('abort', onAbort, { once: true });
    });
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.#off();
    this.#changes.clear();
    this.#stream.unfollow(this.key);
  }
}
