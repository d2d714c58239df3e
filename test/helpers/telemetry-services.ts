/**
 * examples/telemetry/service.ts as child processes of a test: real meshes
 * (createMesh, wrapServer, mTLS from the test's control plane), optionally
 * with an OpenTelemetry SDK loaded first (examples/telemetry/otel.ts) whose
 * in-memory span exporter the test reads over loopback.
 */
import path from 'node:path';
import type { SpanJson } from '../../examples/telemetry/otel.js';
import type { RunningControlPlane } from './control-plane.js';
import { buildDir, startNode, type Child } from './process.js';

export type { SpanJson };

const script = path.join(buildDir, 'examples/telemetry/service.js');
const otel = path.join(buildDir, 'examples/telemetry/otel.js');

export interface TelemetryService {
  name: string;
  child: Child;
  /** The registered instance (address:port); undefined for a load generator. */
  instance: string | undefined;
  pid: number;
  /** The in-memory exporter's spans, when started with `traces: true`. */
  spans(): Promise<SpanJson[]>;
  /** The Prometheus endpoint, when started with `prometheus: true`. */
  metricsUrl: string | undefined;
}

export interface ServiceOptions {
  /** Load the SDK with an in-memory span exporter. */
  traces?: boolean;
  /** Load a MeterProvider with the Prometheus exporter. */
  prometheus?: boolean;
  env?: Record<string, string>;
}

export async function startTelemetryService(cp: RunningControlPlane, name: string, service: string, opts: ServiceOptions = {}): Promise<TelemetryService> {
  const env: Record<string, string> = { ...(await cp.env(service)), HYPHAE_DRAIN_DELAY_MS: '100', ...opts.env };
  const withSdk = opts.traces || opts.prometheus;
  if (withSdk) env.NODE_OPTIONS = `--import=${otel}`;
  if (opts.traces) env.OTEL_TRACES = 'memory';
  if (opts.prometheus) env.OTEL_PROMETHEUS_PORT = '0';
  const child = startNode(script, [], env);
  let spansUrl: string | undefined;
  let metricsUrl: string | undefined;
  try {
    if (opts.traces) spansUrl = (await child.waitFor(/^otel spans=(\S+)/, 60_000))[1];
    if (opts.prometheus) metricsUrl = (await child.waitFor(/^otel metrics=(\S+)/, 60_000))[1];
    const ready = await child.waitFor(/^ready service=\S+(?: instance=(\S+))?/, 60_000);
    return {
      name,
      child,
      instance: ready[1],
      pid: child.proc.pid!,
      metricsUrl,
      async spans() {
        if (!spansUrl) throw new Error(`${name} runs without the in-memory exporter`);
        const res = await fetch(spansUrl);
        return (await res.json()) as SpanJson[];
      },
    };
  } catch (err) {
    await child.kill('SIGKILL');
    throw err;
  }
}
