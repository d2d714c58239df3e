/**
 * An OpenTelemetry SDK for any example service, loaded before it the way
 * OpenTelemetry's own guides do it:
 *
 *   node --import ./build/examples/telemetry/otel.js build/examples/web/server.js
 *   (or NODE_OPTIONS=--import=<absolute path to otel.js>)
 *
 * hyphae itself only talks to @opentelemetry/api; this file is the
 * application's side. Configured by the environment:
 *
 *   OTEL_TRACES=memory        sdk-node with an in-memory span exporter (SimpleSpanProcessor),
 *                             served as JSON on a loopback admin port: prints `otel spans=<url>`
 *   OTEL_PROMETHEUS_PORT=N    a MeterProvider with @opentelemetry/exporter-prometheus on
 *                             127.0.0.1:N (0 picks one): prints `otel metrics=<url>`
 *   OTEL_SERVICE_NAME         the resource's service.name (default: HYPHAE_SERVICE)
 *
 * The standard OTEL_* variables (sampler and its argument...) apply as sdk-node reads them.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { metrics } from '@opentelemetry/api';
import { PrometheusExporter } from '@opentelemetry/exporter-prometheus';
import { resourceFromAttributes } from '@opentelemetry/resources';
import { MeterProvider } from '@opentelemetry/sdk-metrics';
import { NodeSDK } from '@opentelemetry/sdk-node';
import { InMemorySpanExporter, SimpleSpanProcessor } from '@opentelemetry/sdk-trace-base';
import { spanToJson } from './span-json.js';

const env = process.env;
const serviceName = env.OTEL_SERVICE_NAME ?? env.HYPHAE_SERVICE ?? 'unknown';

async function listenLoopback(server: http.Server, port: number): Promise<number> {
  await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', resolve));
  server.unref();
  return (server.address() as AddressInfo).port;
}

if (env.OTEL_TRACES === 'memory') {
  // Traces only from sdk-node: metrics (if asked for) are the Prometheus provider below, logs none.
  env.OTEL_METRICS_EXPORTER ??= 'none';
  env.OTEL_LOGS_EXPORTER ??= 'none';
  const exporter = new InMemorySpanExporter();
  const sdk = new NodeSDK({ serviceName, spanProcessors: [new SimpleSpanProcessor(exporter)], instrumentations: [] });
  sdk.start();
  const admin = http.createServer((req, res) => {
    if (req.url === '/spans/reset') exporter.reset();
    res.setHeader('content-type', 'application/json');
    res.end(JSON.stringify(exporter.getFinishedSpans().map((s) => spanToJson(s, serviceName))));
  });
  const port = await listenLoopback(admin, 0);
  console.log(`otel spans=http://127.0.0.1:${port}/spans`);
}

if (env.OTEL_PROMETHEUS_PORT !== undefined) {
  const exporter = new PrometheusExporter({ preventServerStart: true });
  metrics.setGlobalMeterProvider(new MeterProvider({ resource: resourceFromAttributes({ 'service.name': serviceName }), readers: [exporter] }));
  const server = http.createServer((req, res) => exporter.getMetricsRequestHandler(req, res));
  const port = await listenLoopback(server, Number(env.OTEL_PROMETHEUS_PORT));
  console.log(`otel metrics=http://127.0.0.1:${port}/metrics`);
}

export type { SpanJson } from './span-json.js';
