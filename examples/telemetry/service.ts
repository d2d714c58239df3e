/**
 * A service wired with the telemetry layers by hand (phase 1: until the mesh
 * assembles them itself): it registers with the control plane, serves with
 * the inbound telemetry layer, calls other services through a client stack
 * with the telemetry filters, reports stats to the control plane, and can
 * expose OpenTelemetry metrics to Prometheus. Or, with LOAD, it is a load
 * generator calling one service at a steady rate.
 *
 *   HYPHAE_CONTROL_PLANE=http://127.0.0.1:15010 SERVICE=api CALLS=db METRICS_PORT=0 \
 *     node build/examples/telemetry/service.js
 *
 * Environment: SERVICE, VERSION, ZONE, CALLS (comma list, called in turn per
 * request), FAIL_RATE (share of requests answered 500), DELAY_MS, LOAD (a
 * service to call RPS times a second instead of serving), METRICS_PORT
 * (Prometheus /metrics on that port; 0 picks one), STATS_INTERVAL_MS.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { metrics } from '@opentelemetry/api';
import { PrometheusExporter } from '@opentelemetry/exporter-prometheus';
import { MeterProvider } from '@opentelemetry/sdk-metrics';
import { resourceFromAttributes } from '@opentelemetry/resources';
import { defaultLogger } from '../../src/core/logger.js';
import { ControlPlaneClient } from '../../src/discovery/control-plane-client.js';
import { ControlPlaneResolver } from '../../src/discovery/control-plane-resolver.js';
import { Registration } from '../../src/discovery/registration.js';
import { StatsReporter } from '../../src/discovery/stats-reporter.js';
import { WatchStream } from '../../src/discovery/watch-stream.js';
import { MeshTelemetry } from '../../src/telemetry/mesh-telemetry.js';
import { setServerRoute } from '../../src/telemetry/server-request.js';
import { TelemetryClient, traceServer } from '../lib/telemetry-stack.js';

const env = process.env;
const controlPlane = env.HYPHAE_CONTROL_PLANE;
if (!controlPlane) throw new Error('HYPHAE_CONTROL_PLANE is not set');
const load = env.LOAD;
const service = env.SERVICE ?? (load ? 'loadgen' : 'api');
const version = env.VERSION ?? 'v1';
const calls = (env.CALLS ?? '').split(',').filter(Boolean);
const failRate = Number(env.FAIL_RATE ?? 0);
const delayMs = Number(env.DELAY_MS ?? 0);

// Metrics: a real OpenTelemetry MeterProvider with the Prometheus exporter, when asked for.
let metricsPort: number | undefined;
if (env.METRICS_PORT !== undefined) {
  const exporter = new PrometheusExporter({ preventServerStart: true });
  const provider = new MeterProvider({ resource: resourceFromAttributes({ 'service.name': service }), readers: [exporter] });
  metrics.setGlobalMeterProvider(provider);
  const metricsServer = http.createServer((req, res) => exporter.getMetricsRequestHandler(req, res));
  await new Promise<void>((resolve) => metricsServer.listen(Number(env.METRICS_PORT), '127.0.0.1', resolve));
  metricsPort = (metricsServer.address() as AddressInfo).port;
  metricsServer.unref();
}

const telemetry = new MeshTelemetry({ service });
const cp = new ControlPlaneClient([controlPlane]);
const stream = new WatchStream(cp, defaultLogger);
const client = new TelemetryClient(telemetry, new ControlPlaneResolver(stream), { routeNames: true });
telemetry.observeEndpoints(() => client.endpointStates());

let registration: Registration | undefined;
let instance = '-';
const reporter = new StatsReporter(cp, () => telemetry.takeStats(), {
  service,
  namespace: 'default',
  instances: () => (registration?.instance ? [registration.instance.id] : []),
  intervalMs: Number(env.STATS_INTERVAL_MS ?? 1000),
  logger: defaultLogger,
});
reporter.start();

let server: http.Server | undefined;
let running = true;
if (load) {
  // Open loop at a steady rate, bounded concurrency: a load generator, not a benchmark.
  const rps = Number(env.RPS ?? 20);
  let inflight = 0;
  const tick = setInterval(() => {
    if (!running || inflight >= 50) return;
    inflight++;
    client
      .request(`http://${load}/`)
      .then((r) => r.body.dump())
      .catch(() => {})
      .finally(() => inflight--);
  }, 1000 / rps);
  process.once('SIGTERM', () => clearInterval(tick));
  console.log(`ready service=${service} load=${load} rps=${rps}`);
} else {
  let n = 0;
  server = traceServer(
    telemetry,
    http.createServer((req, res) => {
      setServerRoute(req, '/');
      const failed = Math.floor(++n * failRate) > Math.floor((n - 1) * failRate);
      void (async () => {
        if (delayMs > 0) await new Promise((r) => setTimeout(r, delayMs));
        if (failed) {
          res.statusCode = 500;
          res.end(JSON.stringify({ service, instance, error: 'injected failure' }));
          return;
        }
        const downstream: { service: string; status: number }[] = [];
        for (const s of calls) {
          try {
            const r = await client.request(`http://${s}/`);
            await r.body.dump();
            downstream.push({ service: s, status: r.statusCode });
          } catch {
            downstream.push({ service: s, status: 0 });
          }
        }
        res.statusCode = downstream.every((d) => d.status === 200) ? 200 : 502;
        res.setHeader('content-type', 'application/json');
        res.end(JSON.stringify({ service, instance, version, calls: downstream }));
      })();
    }),
  );
  await new Promise<void>((resolve) => server!.listen(Number(env.PORT ?? 0), '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  const labels: Record<string, string> = { version };
  if (env.ZONE) labels.zone = env.ZONE;
  registration = new Registration(cp, { service, address: '127.0.0.1', port, labels, ...(env.TTL ? { ttlSeconds: Number(env.TTL) } : {}) }, defaultLogger);
  instance = (await registration.start()).id;
  console.log(`ready service=${service} instance=${instance} metrics=${metricsPort ?? '-'}`);
}

process.once('SIGTERM', () => {
  running = false;
  void (async () => {
    await registration?.stop();
    await reporter.close();
    if (server) {
      server.closeAllConnections();
      await new Promise((r) => server!.close(r));
    }
    await client.close();
    await stream.close();
    await cp.close();
    process.exit(0);
  })();
});
