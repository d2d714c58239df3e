/**
 * The mesh's telemetry, wired: one MeshTelemetry per mesh, made from
 * the `telemetry` options, fed with what the mesh knows (the endpoints of the
 * services it calls, its workload certificate), and the stats reporter that
 * sends its traffic to the control plane for the live views.
 */
import type { Logger } from '../core/logger.js';
import type { ControlPlaneClient } from '../discovery/control-plane-client.js';
import { StatsReporter } from '../discovery/stats-reporter.js';
import type { AccessLogSink } from '../telemetry/access-log.js';
import { MeshTelemetry, type CertificateInfo, type EndpointState } from '../telemetry/mesh-telemetry.js';
import type { Destination } from '../client/destination.js';
import type { ClientEventSink } from '../client/events.js';
import type { ResolvedMeshOptions } from './options.js';

const stdout: AccessLogSink = (line) => void process.stdout.write(line);
const stderr: AccessLogSink = (line) => void process.stderr.write(line);

/** The mesh's MeshTelemetry, or undefined when `telemetry.enabled` is false. */
export function createMeshTelemetry(options: ResolvedMeshOptions): MeshTelemetry | undefined {
  const o = options.telemetry;
  if (!o.enabled) return undefined;
  return new MeshTelemetry({
    service: options.service,
    namespace: options.namespace,
    accessLog: o.accessLog === 'stdout' ? stdout : o.accessLog === 'stderr' ? stderr : o.accessLog,
    // The raw HTTP/1.1 transport is not undici: its calls pass no undici diagnostics channel, so 'auto' cannot
    // count on undici's instrumentation for their CLIENT span (an HTTP/2 call then has two: rare, and visible).
    undiciInstrumentation: o.undiciInstrumentation === 'auto' && options.http1Transport === 'raw' ? false : o.undiciInstrumentation,
    tracerProvider: o.tracerProvider,
    meterProvider: o.meterProvider,
  });
}

/**
 * How this process sees the endpoints of the services it calls: `ejected`
 * while outlier detection holds one out (or its one trial request after the
 * ejection is in flight), `healthy` otherwise. Read per stats report and per
 * metric collection, never per request.
 */
export function* endpointStates(destinations: Iterable<Destination>): Iterable<EndpointState> {
  for (const d of destinations) {
    for (const e of d.endpoints.list) {
      const h = e.health?.state;
      const ejected = !e.healthy || h === 'ejected' || h === 'trial';
      yield { service: d.name, namespace: d.namespace, id: e.id, state: ejected ? 'ejected' : 'healthy' };
    }
  }
}

/** The workload certificate for the expiry gauge and the stats, from `mesh.identity()`. */
export function certificateInfo(identity: { spiffeId: string | undefined; notBefore: string | undefined; notAfter: string | undefined } | undefined): CertificateInfo | undefined {
  if (!identity?.spiffeId || !identity.notAfter || !identity.notBefore) return undefined;
  return { spiffeId: identity.spiffeId, notBefore: new Date(identity.notBefore), notAfter: new Date(identity.notAfter) };
}

/** The stats reporter of a mesh with a control plane (started here), or undefined when stats are off. */
export function startStatsReporter(telemetry: MeshTelemetry, client: ControlPlaneClient, options: ResolvedMeshOptions, instances: () => string[], logger: Logger): StatsReporter | undefined {
  if (!options.telemetry.reportStats) return undefined;
  const reporter = new StatsReporter(client, () => telemetry.takeStats(), {
    service: options.service,
    namespace: options.namespace,
    instances,
    intervalMs: options.telemetry.statsIntervalMs,
    logger,
  });
  reporter.start();
  return reporter;
}

/**
 * What the layers decide, counted and told to the call's span: telemetry's
 * subscriptions to the mesh's event sink (src/mesh/mesh-events.ts).
 */
export function subscribeTelemetry(events: ClientEventSink, t: MeshTelemetry): void {
  // Every failed attempt the retry layer looked at comes here; only the ones it retried are retries. The
  // call's span says what was decided: a retry names its reason on the next attempt's event.
  events.on('retry', (e, call) => {
    call?.telemetry?.retryDecided(e.condition, e.decision);
    if (e.decision === 'retry') t.recordRetry(e.destination, e.route, e.condition);
    else if (e.decision === 'budget-exhausted') t.recordBudgetExhausted(e.destination, e.route);
  });
  events.on('ejection', (e, call) => {
    // The call whose attempt's outcome ejected the endpoint says so on its span (when it records).
    const rec = call?.telemetry;
    if (rec !== undefined && rec.recording) rec.endpointEjected(e.endpoint, e.reason);
    t.recordEjection(e.destination, e.reason);
  });
  events.on('shed', (e) => t.recordShed(e.reason));
}
