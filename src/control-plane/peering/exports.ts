/**
 * What a peer cluster sees of this one: the services a ServiceExport names, each with its instances
 * (flat model) or with this cluster's mesh gateways in their place (gateway model, when the peering was
 * made with a gateway service). Sent whole on every change, on the peer's watch stream under the key
 * `Peer/<peer>`: the export set is small next to the registry, writes to it are coalesced per
 * event-loop turn by the watch hub, and a whole state needs no ordering between events.
 */
import { z } from 'zod';
import { instanceId, instanceSchema, type Instance } from '../../config/instance.js';
import { clusterNameSchema, nameSchema } from '../../config/names.js';
import type { Registry } from '../registry/registry.js';
import type { Store } from '../store/store.js';
import type { AcceptedPeering } from './peering-store.js';
import { MAX_IMPORTED_SERVICES } from './limits.js';

export const exportedServiceSchema = z.strictObject({
  name: nameSchema,
  namespace: nameSchema,
  instances: z.array(instanceSchema),
});

/** The `exports` event of a peer's stream. */
export const exportSnapshotSchema = z.strictObject({
  /** The exporting cluster; the importer checks it is the one it peered with. */
  cluster: clusterNameSchema,
  services: z.array(exportedServiceSchema).max(MAX_IMPORTED_SERVICES),
});
export type ExportSnapshot = z.output<typeof exportSnapshotSchema>;

const PEER_KEY_PREFIX = 'Peer/';

/** The watch-hub key of a peer's stream (never a service key: `Peer` is no valid namespace). */
export function peerRef(peer: string): string {
  return `${PEER_KEY_PREFIX}${peer}`;
}

export function isPeerRef(key: string): boolean {
  return key.startsWith(PEER_KEY_PREFIX);
}

export function peerOfRef(key: string): string {
  return key.slice(PEER_KEY_PREFIX.length);
}

/** Whether a service's (empty) instances are not to be told yet: the restart hold (../registry/restart-hold.ts). */
export type Held = (service: string, view: { instances: readonly Instance[] }) => boolean;

/**
 * The exports as `peering`'s peer sees them; undefined while one of them is held after a restart (the
 * whole state or nothing: the peer keeps what it knew, as this cluster's own watchers do).
 */
export function exportSnapshot(cluster: string, peering: AcceptedPeering | undefined, store: Store, registry: Registry, held: Held = () => false): ExportSnapshot | undefined {
  const exported = store.list('ServiceExport');
  const gateway = peering?.gateway;
  const gateways = gateway ? registry.instances(gateway.namespace, gateway.name) : undefined;
  if (gateway && held(`${gateway.namespace}/${gateway.name}`, { instances: gateways! })) return undefined;
  const services = [];
  for (const { resource } of exported.slice(0, MAX_IMPORTED_SERVICES)) {
    const { name, namespace } = resource.metadata;
    const own = registry.instances(namespace, name);
    if (!gateways && held(`${namespace}/${name}`, { instances: own })) return undefined;
    services.push({ name, namespace, instances: gateways ? gateways.map((gw) => viaGateway(gw, name, namespace)) : own });
  }
  return { cluster, services };
}

/** A gateway stands in for every instance of the service: one endpoint per gateway, its own labels dropped. */
function viaGateway(gw: Instance, name: string, namespace: string): Instance {
  return { id: instanceId(gw.address, gw.port), service: name, namespace, address: gw.address, port: gw.port, labels: {}, weight: gw.weight };
}
