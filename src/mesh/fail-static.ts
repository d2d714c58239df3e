/**
 * Fail-static wiring of the mesh (kept out of mesh.ts, which calls it in two
 * places): the discovery cache of the control plane the mesh follows, the
 * watch stream seeded from it, and a start that goes ahead from the cache when
 * the control plane cannot be reached.
 */
import { ErrorCode, MeshError } from '../core/errors.js';
import type { Logger } from '../core/logger.js';
import { cacheDirFor, defaultCacheRoot } from '../discovery/cache-file.js';
import type { ControlPlaneClient } from '../discovery/control-plane-client.js';
import { ControlPlaneResolver } from '../discovery/control-plane-resolver.js';
import { SnapshotCache } from '../discovery/snapshot-cache.js';
import { WatchStream } from '../discovery/watch-stream.js';
import { connectControlPlane } from './connect.js';
import type { ResolvedMeshOptions } from './options.js';

/** The cache opened for a client by connectOrStartFromCache, picked up by controlPlaneDiscovery. */
const caches = new WeakMap<ControlPlaneClient, SnapshotCache>();

function openCache(client: ControlPlaneClient, options: ResolvedMeshOptions, logger: Logger): SnapshotCache {
  let cache = caches.get(client);
  if (!cache) {
    const root = options.cacheDir === false ? undefined : (options.cacheDir ?? defaultCacheRoot());
    cache = new SnapshotCache({ dir: root === undefined ? undefined : cacheDirFor(root, client.urls), controlPlane: client.urls, logger });
    caches.set(client, cache);
  }
  return cache;
}

/** How the mesh started: live, or from the cache while the control plane was unreachable. */
export interface StartState {
  /** True when the control plane could not be reached and the mesh starts from the cache. */
  offline: boolean;
  /** The cache's directory for this control plane (undefined: memory only). */
  dir: string | undefined;
  /** The trust bundle kept by an earlier run (what an offline start trusts). */
  trustBundle: SnapshotCache['trustBundle'];
}

/**
 * Reach the control plane; when it cannot be reached and the cache holds
 * snapshots of it, start anyway from them, with a warning: calls to cached
 * services work, and the watch stream keeps trying in the background.
 */
export async function connectOrStartFromCache(client: ControlPlaneClient, options: ResolvedMeshOptions, logger: Logger, signal?: AbortSignal): Promise<StartState> {
  const cache = openCache(client, options, logger);
  // With a cache to fall back on, one failed try is enough to decide (even with waitForControlPlane):
  // the watch stream keeps trying in the background.
  const cached = cache.size > 0;
  try {
    await connectControlPlane(client, cached ? 1 : options.connectAttempts, cached ? false : options.waitForControlPlane, logger, signal);
    return { offline: false, dir: cache.dir, trustBundle: cache.trustBundle };
  } catch (err) {
    if (cache.size === 0 || !(err instanceof MeshError) || err.code !== ErrorCode.CONTROL_PLANE_UNREACHABLE) throw err;
    cache.serveImmediately = true;
    // The cluster the control plane named last time: what mesh.cluster and the telemetry say, and what a route
    // backend or failover entry naming this cluster means.
    if (cache.cluster !== undefined) client.assumeCluster(cache.cluster);
    logger.warn('hyphae: control plane unreachable; starting from the discovery cache (last-known-good state)', {
      urls: client.urls,
      dir: cache.dir,
      services: cache.size,
      error: err.message,
    });
    return { offline: true, dir: cache.dir, trustBundle: cache.trustBundle };
  }
}

/** The watch stream and resolver of a control-plane mesh, with the discovery cache behind them. */
export function controlPlaneDiscovery(client: ControlPlaneClient, options: ResolvedMeshOptions, logger: Logger): { stream: WatchStream; resolver: ControlPlaneResolver } {
  const cache = openCache(client, options, logger);
  const stream = new WatchStream(client, logger);
  if (cache.trustBundle) stream.seedTrustBundle(cache.trustBundle);
  stream.onSnapshot((s) => cache.record(s));
  stream.onTrustBundle((b) => cache.recordTrustBundle(b));
  if (client.cluster !== undefined) cache.recordCluster(client.cluster);
  client.onCluster((c) => cache.recordCluster(c));
  let wasDown = cache.serveImmediately;
  stream.onStatus((s) => {
    if (!s.connected) {
      wasDown = true;
    } else if (wasDown) {
      wasDown = false;
      logger.info('hyphae: control plane reachable again; discovery resynced', { url: s.url });
    }
  });
  return { stream, resolver: new ControlPlaneResolver(stream, cache) };
}
