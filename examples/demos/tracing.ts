/**
 * `npm run demo -- tracing`: one request through web -> api -> db, each a mesh
 * service with an OpenTelemetry SDK (examples/telemetry/otel.ts, in-memory
 * exporter); this process has one too and starts the trace. After `hyphae
 * apply` sends api's calls to db's subset v2 (whose instance fails every other
 * call with 503), requests are traced and one trace is printed as a tree: the
 * spans are the mesh's own, parented hop by hop across the four processes,
 * and a retried call shows as two db attempts under one client span.
 */
import path from 'node:path';
import { SpanKind, trace } from '@opentelemetry/api';
import { NodeSDK } from '@opentelemetry/sdk-node';
import { InMemorySpanExporter, SimpleSpanProcessor } from '@opentelemetry/sdk-trace-base';
import type { Mesh } from 'hyphae';
import { buildDir } from '../lib/child.js';
import { runDemo, type DemoOptions } from '../lib/demo-session.js';
import { waitForStreak, waitUntil } from '../lib/demo-traffic.js';
import { spanToJson, type SpanJson } from '../telemetry/span-json.js';

const REQUESTS = 10;

interface Hop {
  service?: string;
  version?: string;
  calls?: { body?: Hop }[];
}

/** The version of db that answered, from web's answer (each service nests what its call answered). */
function dbVersion(web: Hop): string | undefined {
  return web.calls?.[0]?.body?.calls?.[0]?.body?.version;
}

function line(s: SpanJson): string {
  const a = s.attributes;
  const shown = ['hyphae.route', 'hyphae.subset', 'http.response.status_code'].filter((k) => a[k] !== undefined).map((k) => `${k}=${String(a[k])}`);
  const attempts = s.events.filter((e) => e.name === 'hyphae.attempt').length;
  if (attempts > 0) shown.push(`attempts=${attempts}`);
  return `${s.service.padEnd(5)} ${String(SpanKind[s.kind]).padEnd(8)} ${s.name.padEnd(14)} ${shown.join(' ')}`.trimEnd();
}

/** The spans of one trace as an indented tree, children under their parent, in the order they were exported. */
function tree(spans: SpanJson[]): string[] {
  const ids = new Set(spans.map((s) => s.spanId));
  const out: string[] = [];
  const walk = (parent: string | undefined, depth: number) => {
    for (const s of spans.filter((x) => (parent === undefined ? x.parentSpanId === undefined || !ids.has(x.parentSpanId) : x.parentSpanId === parent))) {
      out.push(`${'  '.repeat(depth + 1)}${depth > 0 ? '└ ' : ''}${line(s)}`);
      walk(s.spanId, depth + 1);
    }
  };
  walk(undefined, 0);
  return out;
}

export function run(options: DemoOptions): Promise<number> {
  return runDemo('hyphae demo tracing: one request through web -> api -> db, OpenTelemetry SDK in every process', options, async ({ mesh, log, client, apply }) => {
    // This process's SDK (before its mesh, which takes the global tracer): the trace starts here.
    process.env.OTEL_METRICS_EXPORTER ??= 'none';
    process.env.OTEL_LOGS_EXPORTER ??= 'none';
    const exporter = new InMemorySpanExporter();
    const sdk = new NodeSDK({ serviceName: 'demo', spanProcessors: [new SimpleSpanProcessor(exporter)], instrumentations: [] });
    sdk.start();
    try {
      const withSdk = { NODE_OPTIONS: `--import=${path.join(buildDir, 'examples/telemetry/otel.js')}`, OTEL_TRACES: 'memory' };
      const started = await Promise.all([
        mesh.startExampleService('db', { ...withSdk, VERSION: 'v1' }),
        mesh.startExampleService('db', { ...withSdk, VERSION: 'v2', FAIL_STATUS: '503', FAIL_RATE: '0.5' }),
        mesh.startExampleService('api', { ...withSdk, CALLS: 'db' }),
        mesh.startExampleService('web', { ...withSdk, CALLS: 'api' }),
      ]);
      const spanUrls = await Promise.all(started.map(async (s) => (await s.child.waitFor(/^otel spans=(\S+)/))[1]!));
      for (const s of started) log(`  ${s.service.padEnd(15)} ${s.id}${s.service === 'db' ? (s === started[0] ? ' (v1)' : ' (v2: every other call answered 503)') : ''}`);
      const demo: Mesh = await client();
      log('');
      await apply('examples/demos/tracing/route.yaml', "db's subsets by version; api's calls to db go to v2");
      const call = async () => {
        const res = await demo.request('http://web/items');
        return { status: res.statusCode, body: (await res.body.json()) as Hop };
      };
      await waitForStreak("api's calls go to db v2", async () => dbVersion((await call()).body) === 'v2');
      await Promise.all(spanUrls.map((u) => fetch(u.replace(/\/spans$/, '/spans/reset'))));
      exporter.reset();
      log('');

      const tracer = trace.getTracer('hyphae-demo');
      const traceIds: string[] = [];
      let ok200 = 0;
      for (let i = 0; i < REQUESTS; i++) {
        await tracer.startActiveSpan('demo request', async (root) => {
          const { status } = await call();
          if (status === 200) ok200++;
          root.end();
          traceIds.push(root.spanContext().traceId);
        });
      }
      // Server spans end just after their response is sent: wait until every db attempt api's client span counts is in.
      let spans: SpanJson[] = [];
      const complete = (ofTrace: SpanJson[]) => {
        const apiClient = ofTrace.find((s) => s.service === 'api' && s.kind === SpanKind.CLIENT);
        const dbServers = ofTrace.filter((s) => s.service === 'db' && s.kind === SpanKind.SERVER).length;
        return ofTrace.length >= 7 && apiClient !== undefined && apiClient.events.filter((e) => e.name === 'hyphae.attempt').length === dbServers;
      };
      const byTrace = (id: string) => spans.filter((s) => s.traceId === id);
      await waitUntil('every span of every trace is exported', async () => {
        const remote = (await Promise.all(spanUrls.map(async (u) => (await (await fetch(u)).json()) as SpanJson[]))).flat();
        spans = [...exporter.getFinishedSpans().map((s) => spanToJson(s, 'demo')), ...remote];
        return traceIds.every((id) => complete(byTrace(id)));
      });

      const traces = traceIds.map(byTrace);
      const services = traces.map((t) => new Set(t.map((s) => s.service)).size);
      const orphans = traces.map((t) => t.filter((s) => s.parentSpanId !== undefined && !t.some((p) => p.spanId === s.parentSpanId)).length);
      const dbAttempts = traces.map((t) => t.filter((s) => s.service === 'db' && s.kind === SpanKind.SERVER).length);
      const retried = dbAttempts.filter((n) => n > 1).length;
      const shown = traces.findIndex((t, i) => dbAttempts[i]! > 1);
      const index = shown >= 0 ? shown : 0;
      log(`trace ${traceIds[index]} (request ${index + 1}), ${traces[index]!.length} spans:`);
      for (const l of tree(traces[index]!)) log(l);
      log('');
      const sizes = traces.map((t) => t.length);
      const spanCount = Math.min(...sizes) === Math.max(...sizes) ? `${sizes[0]}` : `${Math.min(...sizes)}-${Math.max(...sizes)}`;
      const sum = (ns: number[]) => ns.reduce((a, b) => a + b, 0);
      log(
        `${REQUESTS} requests: ${ok200} answered 200, ${new Set(traceIds).size} traces, ${spanCount} spans each across ${Math.min(...services)} processes, ${sum(orphans)} spans without their parent, ${retried} retried after a 503 (db attempts: ${sum(dbAttempts)})`,
      );
      const ok = ok200 === REQUESTS && services.every((n) => n === 4) && orphans.every((n) => n === 0) && retried > 0;
      return {
        ok,
        summary: ok ? 'every request is one trace through demo, web, api and db, parented hop by hop, the retries inside it' : 'a trace is missing spans, a process or a retry',
        keepCalling: [{ url: 'http://web/items' }],
      };
    } finally {
      await sdk.shutdown();
    }
  });
}
