/**
 * `hyphae gateway --mode mesh` as a library function (issue 17, the "gateway" network model): a TCP
 * listener that routes each TLS connection by its SNI (`<service>.<namespace>.<cluster>.hyphae`,
 * config/mesh-sni.ts) to a local instance of that service, without decrypting it.
 *
 * The gateway is a mesh process like any other: it has its own identity (it watches services through
 * the control plane over its stream), follows each service it is asked for through the mesh's shared
 * watch cache, and registers its listener as an instance of its own service (default "mesh-gateway"),
 * so that a peer cluster's control plane finds its address by that service (s8-peering).
 */
import { defaultLogger } from '../core/logger.js';
import { ErrorCode, MeshError } from '../core/errors.js';
import { createMesh, type Mesh } from '../mesh/mesh.js';
import { advertiseAddress } from '../server/advertise-address.js';
import type { RegisteredInstance } from '../server/registrar.js';
import type { HostPort } from '../proxy/options.js';
import { MeshGatewayListener } from './listener.js';
import { observeGatewayStats } from './metrics.js';
import { resolveMeshGatewayOptions, servedCluster, type MeshGatewayOptions } from './options.js';
import { MeshGatewayRouter } from './router.js';
import { GatewayCounters, type MeshGatewayStats } from './stats.js';

export interface RunningMeshGateway {
  readonly mesh: Mesh;
  readonly cluster: string;
  /** Where the listener is bound. */
  readonly address: HostPort;
  /** Its registration as an instance of the gateway's service; undefined when it does not register. */
  readonly registration: RegisteredInstance | undefined;
  /** Which relay pipes the connections (the native relay's thread, or Node's streams and why). */
  relay: { kind: 'native' | 'node'; why?: string };
  stats(): MeshGatewayStats;
  /** Deregister, stop accepting, cut what is still open after the grace period, close the mesh. */
  close(): Promise<void>;
}

export async function startMeshGateway(options: MeshGatewayOptions): Promise<RunningMeshGateway> {
  const o = resolveMeshGatewayOptions(options);
  const logger = o.logger ?? o.mesh.logger ?? defaultLogger;
  const mesh = await createMesh({ ...o.mesh, ...(o.logger ? { logger: o.logger } : {}) });
  let listener: MeshGatewayListener | undefined;
  let router: MeshGatewayRouter | undefined;
  let stopMetrics: (() => void) | undefined;
  try {
    const discovery = (await mesh.edgeRoutes()).discovery;
    if (discovery === undefined) throw new MeshError(ErrorCode.INVALID_OPTIONS, 'a mesh gateway needs the mesh discovery');
    const cluster = servedCluster(o.cluster, mesh.cluster);
    const counters = new GatewayCounters(logger);
    router = new MeshGatewayRouter({ cluster, watch: discovery.cache, maxServices: o.maxServices, discoveryTimeoutMs: o.discoveryTimeoutMs, downMs: o.downMs });
    listener = new MeshGatewayListener(router, counters, o);
    const bound = await listener.listen(o.port, o.host);
    if (listener.relayInUse.kind === 'node' && o.relay === 'auto') logger.info('hyphae mesh gateway: relaying in Node (the native relay did not load)', { why: listener.relayInUse.why });
    stopMetrics = observeGatewayStats(() => counters.stats, cluster, o.mesh.telemetry?.meterProvider);
    const address = { host: bound.address, port: bound.port };
    let registration: RegisteredInstance | undefined;
    if (o.register && discovery.registrar) {
      registration = await discovery.registrar.register({ address: advertiseAddress(bound.address, o.advertiseAddress), port: bound.port, labels: {}, weight: 1 });
    }
    const l = listener;
    const r = router;
    const stop = stopMetrics;
    let closing: Promise<void> | undefined;
    return {
      mesh,
      cluster,
      address,
      registration,
      relay: l.relayInUse,
      stats: () => counters.snapshot(),
      close: () =>
        (closing ??= (async () => {
          await registration?.deregister();
          await l.close(o.gracePeriodMs);
          stop();
          r.close();
          await mesh.close();
        })()),
    };
  } catch (err) {
    stopMetrics?.();
    await listener?.close();
    router?.close();
    await mesh.close();
    throw err;
  }
}
