/**
 * `hyphae tap` in a mesh process: the tap point its wrapped servers share, turned on and off by the
 * `tap` events of its watch stream, and the sink that posts samples back to the control plane.
 *
 * The point is made by the first wrapServer (src/server is loaded only by a process that serves, see
 * server-module.ts) and the stream is attached at start; either may come first.
 */
import { ErrorCode, MeshError } from '../core/errors.js';
import type { Disposer } from '../core/events.js';
import { TAP_PATH, type TapBatch } from '../config/tap.js';
import type { ControlPlaneClient } from '../discovery/control-plane-client.js';
import type { WatchStream } from '../discovery/watch-stream.js';
import type { TapOutcome, TapPoint } from '../server/tap.js';
import { tapModule } from './server-module.js';

export class MeshTap {
  #service: string;
  #point: TapPoint | undefined;
  #client: ControlPlaneClient | undefined;

  /** `service`: this process's own, `namespace/name`; only its taps are applied. */
  constructor(service: string) {
    this.#service = service;
  }

  /** For wrapServer: the one point of this process. */
  point(): TapPoint {
    return (this.#point ??= new (tapModule().TapPoint)({ send: (id, batch) => this.#send(id, batch) }));
  }

  /** At start: taps come on the watch stream, samples go through the client. */
  attach(stream: WatchStream, client: ControlPlaneClient): Disposer {
    this.#client = client;
    return stream.onTap((e) => {
      // A process with no wrapped server has nothing to sample.
      if (e.service === this.#service) this.#point?.apply(e.taps);
    });
  }

  async #send(tapId: string, batch: TapBatch): Promise<TapOutcome> {
    const client = this.#client;
    if (client === undefined) return 'failed';
    try {
      await client.call('POST', `${TAP_PATH}/${encodeURIComponent(tapId)}`, batch);
      return 'ok';
    } catch (err) {
      // 404: the tap ended at the control plane (its reader went away). Anything else: the next batch tries again.
      return err instanceof MeshError && err.code === ErrorCode.CONTROL_PLANE_REJECTED && err.details?.status === 404 ? 'gone' : 'failed';
    }
  }

  close(): void {
    this.#point?.close();
  }
}
