/**
 * The OpenTelemetry SDK a benchmarked process runs in its "SDK" modes, as a
 * service in production would: sdk-node with a parent-based sampler around a
 * trace-id ratio (1 % of root traces), a batch span processor, and (when
 * asked for) a meter provider whose periodic reader collects every second. The exporters drop
 * what they get (counting it): the export itself happens off the request
 * path, and a network exporter would measure the collector, not the mesh.
 */
export interface RunningSdk {
  stop(): Promise<void>;
  /** Spans handed to the exporter so far (the sampled ones). */
  exportedSpans(): number;
}

/** `metrics`: also a MeterProvider (read every second), so the mesh's instruments record for real. */
export async function startBenchSdk(ratio: number, serviceName: string, metrics: boolean): Promise<RunningSdk> {
  process.env.OTEL_LOGS_EXPORTER = 'none';
  // sdk-node would otherwise set up an OTLP metric exporter; here metrics are on only when asked for.
  process.env.OTEL_METRICS_EXPORTER = 'none';
  const { NodeSDK } = await import('@opentelemetry/sdk-node');
  const { BatchSpanProcessor, ParentBasedSampler, TraceIdRatioBasedSampler } = await import('@opentelemetry/sdk-trace-base');
  const { PeriodicExportingMetricReader, AggregationTemporality } = await import('@opentelemetry/sdk-metrics');
  let spans = 0;
  const spanExporter = {
    export: (batch: unknown[], done: (r: { code: number }) => void) => {
      spans += batch.length;
      done({ code: 0 });
    },
    shutdown: async () => {},
  };
  const metricExporter = {
    export: (_m: unknown, done: (r: { code: number }) => void) => done({ code: 0 }),
    selectAggregationTemporality: () => AggregationTemporality.CUMULATIVE,
    forceFlush: async () => {},
    shutdown: async () => {},
  };
  const sdk = new NodeSDK({
    serviceName,
    sampler: new ParentBasedSampler({ root: new TraceIdRatioBasedSampler(ratio) }),
    spanProcessors: [new BatchSpanProcessor(spanExporter)],
    ...(metrics ? { metricReaders: [new PeriodicExportingMetricReader({ exporter: metricExporter, exportIntervalMillis: 1_000 })] } : {}),
    instrumentations: [],
  });
  sdk.start();
  // A process with an SDK has its context manager in use: instrumentations enter it per request, and the
  // span processor's own exports do. With AsyncLocalStorage on Node 20 that turns on promise hooks for the
  // whole process; do it now, so a baseline that makes no span pays what any SDK-instrumented process pays.
  const { context, ROOT_CONTEXT } = await import('@opentelemetry/api');
  context.with(ROOT_CONTEXT, () => undefined);
  return { stop: () => sdk.shutdown(), exportedSpans: () => spans };
}
