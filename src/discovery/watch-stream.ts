/**
 * One watch stream per process (DESIGN: "clients hold one stream to the
 * control plane"). Services are added to the open stream as the process starts
 * calling them; a broken stream reconnects with backoff, trying the next
 * control plane, and re-subscribes to everything it followed.
 */
import { ErrorCode, MeshError } from '../core/errors.js';
import { Listeners, type Disposer } from '../core/events.js';
import { fullJitter, sleep } from '../core/backoff.js';
import type { Logger } from '../core/logger.js';
import { gatewayRef, gatewaySnapshotSchema, serviceSnapshotSchema, trustBundleSchema, watchHelloSchema, type GatewaySnapshot, type ServiceSnapshot, type TrustBundle } from '../config/wire.js';
import { tapEventSchema, type TapEvent } from '../config/tap.js';
import type { ControlPlaneClient } from './control-plane-client.js';
import { parseSse } from './sse.js';

export type StreamStatus = { connected: true; url: string } | { connected: false; error: MeshError };

export class WatchStream {
  #client: ControlPlaneClient;
  #logger: Logger;
  #services = new Set<string>();
  #snapshots = new Listeners<ServiceSnapshot>();
  #gateways = new Listeners<GatewaySnapshot>();
  #status = new Listeners<StreamStatus>();
  #bundles = new Listeners<TrustBundle>();
  #taps = new Listeners<TapEvent>();
  #bundle: TrustBundle | undefined;
  #abort = new AbortController();
  #running = false;
  #closed = false;
  #streamId: string | undefined;
  #streamUrl: string | undefined;
  /** Services asked for since the open request left; sent with an update once the stream says hello. */
  #unsent = new Set<string>();
  #idleTimer: NodeJS.Timeout | undefined;
  #idleMs = 45_000;
  #streamAbort: AbortController | undefined;

  constructor(client: ControlPlaneClient, logger: Logger) {
    this.#client = client;
    this.#logger = logger;
  }

  onSnapshot(listener: (s: ServiceSnapshot) => void): Disposer {
    return this.#snapshots.on(listener);
  }

  /** Snapshots of the gateways followed (`follow(gatewayRef(ns, name))`). */
  onGatewaySnapshot(listener: (s: GatewaySnapshot) => void): Disposer {
    return this.#gateways.on(listener);
  }

  onStatus(listener: (s: StreamStatus) => void): Disposer {
    return this.#status.on(listener);
  }

  /** The trust bundle, whenever the control plane (with a CA) sends a new one. */
  onTrustBundle(listener: (b: TrustBundle) => void): Disposer {
    return this.#bundles.on(listener);
  }

  /** `hyphae tap` on a service this process follows (its own: the control plane sends it to that service's instances only). */
  onTap(listener: (e: TapEvent) => void): Disposer {
    return this.#taps.on(listener);
  }

  /** The last trust bundle received, if any. */
  get trustBundle(): TrustBundle | undefined {
    return this.#bundle;
  }

  /** Fail-static: the last-known-good bundle (from the disk cache) until the control plane sends one. */
  seedTrustBundle(bundle: TrustBundle): void {
    this.#bundle ??= bundle;
  }

  /** Follow a service (`namespace/name`), or a gateway (`Gateway/namespace/name`). Its snapshot arrives through onSnapshot (onGatewaySnapshot). */
  follow(ref: string): void {
    if (this.#closed || this.#services.has(ref)) return;
    this.#services.add(ref);
    if (!this.#running) {
      this.#running = true;
      void this.#loop();
      return;
    }
    this.#unsent.add(ref);
    if (this.#streamId) void this.#sendUnsent();
  }

  unfollow(ref: string): void {
    if (!this.#services.delete(ref)) return;
    this.#unsent.delete(ref);
    if (this.#streamId && this.#streamUrl) {
      this.#client.updateWatch(this.#streamUrl, this.#streamId, { remove: [ref] }).catch(() => {
        // The stream will be re-opened without it, or closed with the process: nothing to recover.
      });
    }
  }

  async #sendUnsent(): Promise<void> {
    const add = [...this.#unsent];
    const id = this.#streamId;
    const url = this.#streamUrl;
    if (add.length === 0 || !id || !url) return;
    this.#unsent.clear();
    try {
      const ok = await this.#client.updateWatch(url, id, { add });
      if (!ok) this.#restartStream('stream unknown to the control plane');
    } catch (err) {
      this.#logger.warn('hyphae: could not add services to the watch stream; reconnecting', { error: String(err) });
      this.#restartStream('update failed');
    }
  }

  #restartStream(_why: string): void {
    this.#streamAbort?.abort();
  }

  async #loop(): Promise<void> {
    let attempt = 0;
    while (!this.#closed) {
      const url = this.#client.currentUrl;
      let failure: MeshError | undefined;
      try {
        await this.#runStream(url, () => {
          attempt = 0;
        });
        failure = new MeshError(ErrorCode.CONTROL_PLANE_UNREACHABLE, `watch stream to ${url} ended`, { retryable: true });
      } catch (err) {
        if (this.#closed) break;
        failure = err instanceof MeshError ? err : new MeshError(ErrorCode.CONTROL_PLANE_UNREACHABLE, `watch stream to ${url} failed: ${String(err)}`, { cause: err, retryable: true });
      }
      this.#streamId = undefined;
      this.#streamUrl = undefined;
      if (this.#closed) break;
      this.#status.emit({ connected: false, error: failure });
      if (this.#client.urls.length > 1) this.#client.rotate(url);
      try {
        // Capped at 1 s so that a control plane that comes back is followed again within about a second.
        await sleep(fullJitter(attempt++, { baseMs: 100, maxMs: 1_000 }), this.#abort.signal);
      } catch {
        break;
      }
    }
  }

  async #runStream(url: string, onOpen: () => void): Promise<void> {
    const streamAbort = new AbortController();
    this.#streamAbort = streamAbort;
    const onClose = () => streamAbort.abort();
    this.#abort.signal.addEventListener('abort', onClose, { once: true });
    const requested = [...this.#services];
    this.#unsent.clear();
    const query = requested.map(encodeURIComponent).join(',');
    try {
      const res = await this.#client.openStream(url, `/v1/watch?services=${query}`, streamAbort.signal);
      this.#armIdle(streamAbort);
      for await (const ev of parseSse(res.body, () => this.#armIdle(streamAbort))) {
        if (ev.event === 'hello') {
          const hello = watchHelloSchema.safeParse(JSON.parse(ev.data));
          if (!hello.success) throw new MeshError(ErrorCode.CONTROL_PLANE_REJECTED, 'control plane sent a malformed watch hello');
          this.#streamId = hello.data.streamId;
          this.#streamUrl = url;
          this.#idleMs = hello.data.heartbeatMs * 3;
          onOpen();
          this.#status.emit({ connected: true, url });
          // Services followed while the stream was opening.
          for (const ref of this.#services) if (!requested.includes(ref)) this.#unsent.add(ref);
          void this.#sendUnsent();
        } else if (ev.event === 'service') {
          const snap = serviceSnapshotSchema.safeParse(JSON.parse(ev.data));
          if (!snap.success) {
            this.#logger.warn('hyphae: ignoring a malformed service snapshot from the control plane', { error: snap.error.message });
            continue;
          }
          if (this.#services.has(`${snap.data.namespace}/${snap.data.name}`)) this.#snapshots.emit(snap.data);
        } else if (ev.event === 'gateway') {
          const snap = gatewaySnapshotSchema.safeParse(JSON.parse(ev.data));
          if (!snap.success) {
            this.#logger.warn('hyphae: ignoring a malformed gateway snapshot from the control plane', { error: snap.error.message });
            continue;
          }
          if (this.#services.has(gatewayRef(snap.data.namespace, snap.data.name))) this.#gateways.emit(snap.data);
        } else if (ev.event === 'trust-bundle') {
          const bundle = trustBundleSchema.safeParse(JSON.parse(ev.data));
          if (!bundle.success) {
            this.#logger.warn('hyphae: ignoring a malformed trust bundle from the control plane', { error: bundle.error.message });
            continue;
          }
          this.#bundle = bundle.data;
          this.#bundles.emit(bundle.data);
        } else if (ev.event === 'tap') {
          const tap = tapEventSchema.safeParse(JSON.parse(ev.data));
          if (!tap.success) {
            this.#logger.warn('hyphae: ignoring a malformed tap event from the control plane', { error: tap.error.message });
            continue;
          }
          this.#taps.emit(tap.data);
        }
      }
    } finally {
      clearTimeout(this.#idleTimer);
      this.#abort.signal.removeEventListener('abort', onClose);
    }
  }

  /** A stream that stays silent past three heartbeats is dead even if TCP has not noticed. */
  #armIdle(streamAbort: AbortController): void {
    clearTimeout(this.#idleTimer);
    this.#idleTimer = setTimeout(() => streamAbort.abort(new Error('watch stream idle')), this.#idleMs);
    this.#idleTimer.unref();
  }

  async close(): Promise<void> {
    this.#closed = true;
    this.#abort.abort();
    clearTimeout(this.#idleTimer);
    this.#snapshots.clear();
    this.#gateways.clear();
    this.#status.clear();
    this.#bundles.clear();
    this.#taps.clear();
  }
}
