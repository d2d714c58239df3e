/**
 * A Service's traffic settings (Service.spec) turned into what the client
 * uses: subset selectors for the EndpointSet, and the pick policy (balancer
 * factory, locality for this caller, EWMA settings). Done once per config
 * version; a service without a Service resource gets the schema's defaults
 * (peak_ewma, locality on the `zone` label at 70 %).
 */
import { serviceSpecSchema, type ServiceSpec } from '../../config/resources.js';
import { ErrorCode, MeshError } from '../../core/errors.js';
import { balancerFactoryFor, knownBalancers } from './balancers/registry.js';
import type { SubsetSelector } from './endpoint-set.js';
import type { PickPolicy } from './subset.js';

const DEFAULT_SPEC: ServiceSpec = serviceSpecSchema.parse({});

export interface TrafficPolicy {
  loadBalancer: ServiceSpec['loadBalancer'];
  subsets: Map<string, SubsetSelector>;
  pick: PickPolicy;
}

/** Throws HYPHAE_ERR_INVALID_CONFIG when the spec names a balancer neither built in nor registered. */
export function trafficPolicy(
  config: ServiceSpec | null,
  callerLabels: Readonly<Record<string, string>>,
  service: { name: string; namespace: string } = { name: '', namespace: '' },
): TrafficPolicy {
  const spec = config ?? DEFAULT_SPEC;
  const newBalancer = balancerFactoryFor({ loadBalancer: spec.loadBalancer, ringHash: spec.ringHash }, { service: service.name, namespace: service.namespace });
  if (newBalancer === undefined) {
    throw new MeshError(
      ErrorCode.INVALID_CONFIG,
      `service ${service.name}: loadBalancer ${spec.loadBalancer} is not registered in this process (registerBalancer from hyphae/extend, before the mesh gets the Service); known: ${knownBalancers().join(', ')}`,
      { details: { service: service.name, namespace: service.namespace, loadBalancer: spec.loadBalancer } },
    );
  }
  const locality = spec.locality ?? { enabled: true, zoneLabel: 'zone', minHealthyPercent: 70 };
  const callerZone = callerLabels[locality.zoneLabel];
  return {
    loadBalancer: spec.loadBalancer,
    subsets: new Map((spec.subsets ?? []).map((s) => [s.name, s.labels])),
    pick: {
      newBalancer,
      locality:
        locality.enabled && callerZone !== undefined
          ? { zoneLabel: locality.zoneLabel, callerZone, minHealthyPercent: locality.minHealthyPercent }
          : undefined,
      ewma: { defaultRttMs: spec.peakEwma?.defaultRtt ?? 30, decayMs: spec.peakEwma?.decay ?? 10_000 },
    },
  };
}
