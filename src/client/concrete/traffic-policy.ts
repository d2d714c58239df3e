/**
 * A Service's traffic settings (Service.spec) turned into what the client
 * uses: subset selectors for the EndpointSet, and the pick policy (balancer
 * factory, locality for this caller, failover clusters, EWMA settings). Done once per config
 * version, from a spec whose defaults the schema has filled in
 * (config/resources/service.ts, resolveServiceSpec): nothing is defaulted here.
 */
import type { ResolvedServiceSpec } from '../../config/resources.js';
import { ErrorCode, MeshError } from '../../core/errors.js';
import { balancerFactoryFor, knownBalancers } from './balancers/registry.js';
import type { SubsetSelector } from './endpoint-set.js';
import { ewmaSettings } from '../endpoint/latency.js';
import type { PickPolicy } from './subset.js';

export interface TrafficPolicy {
  loadBalancer: ResolvedServiceSpec['loadBalancer'];
  subsets: Map<string, SubsetSelector>;
  pick: PickPolicy;
}

/**
 * Throws HYPHAE_ERR_INVALID_CONFIG when the spec names a balancer neither built in nor registered.
 * `localCluster`: the caller's own cluster name when discovery knows it (undefined: only instances without
 * a cluster are local, and a route backend can name peers only).
 */
export function trafficPolicy(
  spec: ResolvedServiceSpec,
  callerLabels: Readonly<Record<string, string>>,
  service: { name: string; namespace: string } = { name: '', namespace: '' },
  localCluster?: string,
): TrafficPolicy {
  const newBalancer = balancerFactoryFor({ loadBalancer: spec.loadBalancer, ringHash: spec.ringHash }, { service: service.name, namespace: service.namespace });
  if (newBalancer === undefined) {
    throw new MeshError(
      ErrorCode.INVALID_CONFIG,
      `service ${service.name}: loadBalancer ${spec.loadBalancer} is not registered in this process (registerBalancer from hyphae/extend, before the mesh gets the Service); known: ${knownBalancers().join(', ')}`,
      { details: { service: service.name, namespace: service.namespace, loadBalancer: spec.loadBalancer } },
    );
  }
  const locality = spec.locality;
  const callerZone = callerLabels[locality.zoneLabel];
  return {
    loadBalancer: spec.loadBalancer,
    subsets: new Map(spec.subsets.map((s) => [s.name, s.labels])),
    pick: {
      newBalancer,
      locality: locality.enabled && callerZone !== undefined ? { zoneLabel: locality.zoneLabel, callerZone, minHealthyPercent: locality.minHealthyPercent } : undefined,
      ewma: ewmaSettings(spec.peakEwma),
      clusters: { localCluster, failover: spec.failover?.map((t) => t.cluster), minHealthyPercent: locality.minHealthyPercent },
    },
  };
}
