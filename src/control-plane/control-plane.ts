/**
 * Wires the control plane together: store (configuration) and registry
 * (instances) from ./backend.ts (file + memory, or etcd), watch hub (pushes
 * both to watchers) and the HTTP API in front of them.
 */
import type { Instance } from '../config/instance.js';
import type https from 'node:https';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { ErrorCode, MeshError } from '../core/errors.js';
import { DEFAULT_MAX_CONNECTIONS, openFileLimit } from '../core/listener-guard.js';
import type { ServiceSnapshot } from '../config/wire.js';
import { createApiServer } from './http/server.js';
import { Router } from './http/router.js';
import { eventLog } from './log.js';
import { ControlPlaneMetrics } from './metrics/control-plane-metrics.js';
import { instrumentRegistry, instrumentStore } from './metrics/instrument-store.js';
import { startMetricsListener, type MetricsListener } from './metrics/metrics-listener.js';
import { resolveOptions, type ControlPlaneOptions } from './options.js';
import { setUpSecurity } from './security.js';
import type { Registry } from './registry/registry.js';
import { apiRoutes } from './routes/index.js';
import { openBackend } from './backend.js';
import { checkDataDir } from './data-dir.js';
import { StatsHub } from './stats/stats-hub.js';
import type { Store } from './store/store.js';
import { ServiceVersions } from './watch/service-versions.js';
import { gatewaySnapshotBuilder, snapshotBuilder } from './watch/snapshot.js';
import { ConfigIndex } from './watch/config-index.js';
import { WatchHub } from './watch/watch-hub.js';
import { RestartHold } from './registry/restart-hold.js';
import { TapHub } from './tap/tap-hub.js';
import { LinkCertificate } from './peering/link-certificate.js';
import { Peering } from './peering/peering.js';

export interface ControlPlane {
  /** Base URL, e.g. `https://127.0.0.1:15010` (`http://` with insecure). */
  readonly url: string;
  /** False with `insecure`: plain HTTP, no CA, no tokens. */
  readonly secure: boolean;
  /** The file holding the admin token (undefined when insecure). */
  readonly adminTokenFile: string | undefined;
  /** The trust bundle as PEM, rewritten on every rotation: what HYPHAE_CA_FILE and --ca-file point at (undefined when insecure). */
  readonly caFile: string | undefined;
  readonly port: number;
  readonly host: string;
  readonly registry: Registry;
  readonly store: Store;
  /** The `metricsListen` listener's URL (`http://127.0.0.1:9464/metrics`); undefined when it is off. */
  readonly metricsUrl: string | undefined;
  /** Ends watch streams, stops lease timers, closes the server and the store. */
  close(): Promise<void>;
}

/** How long in-flight requests get to finish on close() before their connections are cut. */
const CLOSE_GRACE_MS = 1000;

export async function createControlPlane(options: ControlPlaneOptions): Promise<ControlPlane> {
  const opts = resolveOptions(options);
  const log = eventLog(opts.log, opts.logFormat);
  // Before anything in it is read or locked: a directory another user could write is refused.
  await checkDataDir(path.resolve(opts.dataDir));
  const { store, registry, shared } = await openBackend(opts, log);
  let security;
  try {
    security = await setUpSecurity(opts, path.resolve(opts.dataDir), log, shared);
  } catch (err) {
    await Promise.all([registry.close(), store.close()]);
    throw err;
  }
  const { tokens, ca, serving } = security;
  // Scrape-time readers: nothing is kept up to date between scrapes but the request and push counters.
  const metrics = new ControlPlaneMetrics({
    watchStreams: () => hub.size,
    statsStreams: () => stats.streams,
    services: () => registry.services().length,
    instances: () => registry.size,
    resources: () => {
      const byKind = new Map<string, number>();
      for (const { resource } of store.list()) byKind.set(resource.kind, (byKind.get(resource.kind) ?? 0) + 1);
      return byKind;
    },
  });
  instrumentStore(store, opts.store, metrics);
  if (opts.store === 'etcd') instrumentRegistry(registry, metrics);

  const versions = new ServiceVersions(store.revision());
  const index = new ConfigIndex(store);
  // The in-memory registry starts empty after a restart: hold empty snapshots while instances re-register.
  // etcd keeps instances (and their leases) across restarts, so there is nothing to wait for there.
  const hold = opts.store === 'file' ? await RestartHold.open(path.resolve(opts.dataDir), opts.restartHoldMs ?? opts.defaultTtlSeconds * 1000, log) : undefined;
  const linkCertificate = ca ? new LinkCertificate(ca, opts.cluster) : undefined;
  const peering = await Peering.open({
    cluster: opts.cluster,
    ...(ca && linkCertificate ? { trustDomain: ca.trustDomain, clientCertificate: () => linkCertificate.get() } : {}),
    dataDir: path.resolve(opts.dataDir),
    store,
    registry,
    log,
    ...(hold ? { held: (service: string, view: { instances: readonly Instance[] }) => hold.held(service, view) } : {}),
    importsChanged: (services) => {
      for (const service of services) {
        versions.bump(service);
        hub.notify(service);
      }
    },
  });
  const snapshot = snapshotBuilder(registry, store, versions, index, () => ca !== undefined, peering.imports);
  const hub = new WatchHub({
    heartbeatMs: opts.heartbeatMs,
    snapshot,
    gatewaySnapshot: gatewaySnapshotBuilder(store, versions, index),
    peerSnapshot: (peer) => peering.exportsFor(peer),
    revision: () => versions.revision,
    trustBundle: () => ca?.bundle,
    log,
    ...(hold ? { held: (service: string, snap: ServiceSnapshot) => hold.held(service, snap) } : {}),
    tokenValid: (id) => peering.streamValid(id) ?? tokens.stillValid(id),
    pushed: (seconds) => metrics.pushed(seconds),
    maxStreamsPerToken: opts.maxWatchStreamsPerToken,
  });
  const stats = new StatsHub({
    registry,
    store,
    log,
    maxStreamsPerToken: opts.maxStatsStreamsPerToken,
    maxStreams: opts.maxStatsStreams,
    tokenValid: (id) => tokens.stillValid(id),
    historyStepMs: opts.statsHistoryStepMs,
  });
  const taps = new TapHub({ announce: (service, event) => hub.sendToInstances(service, event), log });
  // A revocation, through this replica or (etcd) another one, ends the streams opened with the token now.
  tokens.onRevoked((id) => {
    const n = hub.closeToken(id, `token ${id} revoked`);
    if (n > 0) log(`watch closed ${n} stream${n > 1 ? 's' : ''} of revoked token ${id}`);
    const s = stats.closeToken(id);
    if (s > 0) log(`stats closed ${s} stream${s > 1 ? 's' : ''} of revoked token ${id}`);
  });
  hold?.onEnd(() => hub.releaseHeld());
  // A replica that cannot see the store would go on pushing a stale view: let its watchers move to another replica
  // (once per outage; if they come back here, they are served the cached state).
  store.onHealth?.((health) => {
    if (!health.ok) hub.endAll(`store unavailable: ${health.error ?? 'unknown'}`);
  });

  registry.onChange((service) => {
    versions.bump(service);
    if (hold) {
      const [namespace, name] = service.split('/') as [string, string];
      if (registry.instances(namespace, name).length > 0) hold.sawInstance(service);
    }
    hub.notify(service);
    peering.localChanged(service);
  });
  store.onChange((change) => {
    versions.observe(change.revision);
    for (const c of change.changes) {
      log(`${c.action === 'deleted' ? 'delete' : 'apply'} ${c.kind} ${c.namespace}/${c.name} (${c.action}) rev=${change.revision}`);
    }
    const affected = index.applyChange(change);
    for (const service of affected.services) {
      versions.bump(service);
      hub.notify(service);
    }
    for (const ns of affected.namespaces) {
      versions.bumpNamespace(ns);
      hub.notifyNamespace(ns);
    }
    peering.configChanged(change);
  });
  peering.start(hub);

  // The serving certificate, and the roots a peering link's client certificate must chain to.
  const serverTls = () => (serving ? { ...serving.options, ...(ca ? { ca: ca.bundle.roots } : {}) } : undefined);
  const routes = apiRoutes({ registry, store, hub, stats, tokens, ca, metrics, taps, cluster: opts.cluster, peering });
  metrics.addRoutes(routes);
  const server = createApiServer({
    router: new Router(routes),
    metrics,
    bodyLimitBytes: opts.bodyLimitBytes,
    log,
    tokens,
    tls: serverTls(),
    limits: opts,
    cluster: opts.cluster,
  });
  // A renewed serving certificate takes effect for new connections; open ones (watch streams) carry on.
  serving?.onRenew(() => (server as https.Server).setSecureContext(serverTls()!));
  ca?.onChange((bundle) => {
    hub.broadcastTrustBundle(bundle);
    // Peers' client certificates are verified against the roots of the bundle as it is now.
    if (serving) (server as https.Server).setSecureContext(serverTls()!);
    // After a retirement the serving certificate moves to the remaining root.
    void serving?.refresh().catch((err: unknown) => log(`error serving certificate: ${(err as Error).message}`));
  });
  try {
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(opts.port, opts.host, () => {
        server.off('error', reject);
        resolve();
      });
    });
  } catch (err) {
    await security.close();
    taps.close();
    await peering.close();
    await Promise.all([hub.close(), stats.close(), registry.close(), store.close(), hold?.close()]);
    metrics.close();
    const e = err as NodeJS.ErrnoException;
    throw new MeshError(ErrorCode.INVALID_OPTIONS, `cannot listen on ${opts.host}:${opts.port}: ${e.code ?? e.message}`, { cause: err });
  }
  let metricsListener: MetricsListener | undefined;
  if (opts.metricsListen) {
    const { host: mhost, port: mport, maxConnections } = opts.metricsListen;
    try {
      metricsListener = await startMetricsListener({
        host: mhost,
        port: mport,
        maxConnections,
        headersTimeoutMs: opts.headersTimeoutMs,
        requestTimeoutMs: opts.requestTimeoutMs,
        render: () => metrics.render(),
        log,
      });
    } catch (err) {
      await new Promise((resolve) => server.close(resolve));
      await security.close();
      taps.close();
      await peering.close();
      await Promise.all([hub.close(), stats.close(), registry.close(), store.close(), hold?.close()]);
      metrics.close();
      const e = err as NodeJS.ErrnoException;
      throw new MeshError(ErrorCode.INVALID_OPTIONS, `cannot listen on ${mhost}:${mport} (metricsListen): ${e.code ?? e.message}`, { cause: err });
    }
    log(`metrics served at ${metricsListener.url} (plain HTTP, no token${isLoopback(mhost) ? '' : '; WARNING: not loopback, anyone who reaches it can read the figures'})`);
  }
  // Errors after listen (EMFILE on accept...) are logged, never fatal.
  server.on('error', (err) => log(`error server: ${err.message}`));

  const { port } = server.address() as AddressInfo;
  const host = opts.host;
  const url = `${ca ? 'https' : 'http'}://${host.includes(':') ? `[${host}]` : host}:${port}`;
  // The cap may have been derived from the open-file limit: say what is in force, and why.
  const derived = options.maxConnections === undefined && opts.maxConnections < DEFAULT_MAX_CONNECTIONS ? ` (below the open-file limit ${openFileLimit()})` : '';
  log(
    `limits max-connections=${opts.maxConnections}${derived}${ca ? ` tls-handshake-timeout=${opts.tlsHandshakeTimeoutMs}ms` : ''}` +
      ` headers-timeout=${opts.headersTimeoutMs}ms request-timeout=${opts.requestTimeoutMs}ms send-timeout=${opts.sendTimeoutMs}ms`,
  );
  log(`listening ${url} data=${path.resolve(opts.dataDir)} store=${store.description}${ca ? ` tls-names=${serving!.names.join(',')}` : ' (insecure)'}`);

  let closing: Promise<void> | undefined;
  const close = () =>
    (closing ??= (async () => {
      // Before the watch hub: the instances hear "tap off" on their streams while those are still open.
      taps.close();
      await peering.close();
      await hub.close();
      await stats.close();
      await metricsListener?.close();
      metrics.close();
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      server.closeIdleConnections();
      const cut = setTimeout(() => server.closeAllConnections(), CLOSE_GRACE_MS);
      await closed;
      clearTimeout(cut);
      await registry.close();
      await hold?.close();
      await security.close();
      await store.close();
      log('closed');
    })());

  return { url, port, host, registry, store, close, metricsUrl: metricsListener?.url, secure: ca !== undefined, adminTokenFile: security.adminTokenFile, caFile: security.bundleFile };
}

function isLoopback(host: string): boolean {
  return host === 'localhost' || host === '::1' || host.startsWith('127.');
}
