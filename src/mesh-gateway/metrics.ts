/**
 * The mesh gateway's counters as OpenTelemetry instruments: observed when a reader collects, so a
 * connection costs a counter increment and nothing more (with no SDK registered, nothing at all).
 */
import { metrics, type MeterProvider, type ObservableResult } from '@opentelemetry/api';
import { SCOPE_NAME, SCOPE_VERSION } from '../telemetry/scope.js';
import type { MeshGatewayStats } from './stats.js';

export const METRIC_CONNECTIONS = 'hyphae.mesh_gateway.connections';
export const METRIC_ACTIVE = 'hyphae.mesh_gateway.active_connections';

/** Report `stats()` through `provider` (the global one by default); returns what stops it. */
export function observeGatewayStats(stats: () => MeshGatewayStats, cluster: string, provider: MeterProvider = metrics.getMeterProvider()): () => void {
  const meter = provider.getMeter(SCOPE_NAME, SCOPE_VERSION);
  const connections = meter.createObservableCounter(METRIC_CONNECTIONS, {
    description: 'Connections the mesh gateway took: piped to an instance (outcome forwarded) or refused (outcome refused, with its cause).',
    unit: '{connection}',
  });
  const active = meter.createObservableUpDownCounter(METRIC_ACTIVE, { description: 'Connections the mesh gateway holds open.', unit: '{connection}' });
  const onConnections = (r: ObservableResult) => {
    const s = stats();
    r.observe(s.forwarded, { 'hyphae.cluster': cluster, outcome: 'forwarded' });
    for (const [cause, n] of Object.entries(s.refused)) r.observe(n, { 'hyphae.cluster': cluster, outcome: 'refused', cause });
  };
  const onActive = (r: ObservableResult) => r.observe(stats().active, { 'hyphae.cluster': cluster });
  connections.addCallback(onConnections);
  active.addCallback(onActive);
  return () => {
    connections.removeCallback(onConnections);
    active.removeCallback(onActive);
  };
}
