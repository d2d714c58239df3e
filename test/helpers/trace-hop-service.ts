/**
 * A wrapped server for the trace-context cases (test/telemetry/trace-context-cases.test.ts), run as a
 * child process: each request it handles makes one call to a mesh service (`http://echo`, a static
 * endpoint at TRACE_MESH_PORT) and one to a host that is not a mesh service (TRACE_PASSTHROUGH, a plain
 * `http://127.0.0.1:<port>`), then answers with what the application can read of its trace
 * (`getTraceId`). With TRACE_SDK=1, sdk-node as the other SDK tests set it up (no instrumentations, an
 * in-memory exporter, the default parent-based always-on sampler) is started first; `/spans` lists what
 * it recorded. `/log` answers the access log lines written so far, and forgets them.
 * TRACE_PROPAGATE_TO: the `telemetry.propagateTo` option, as JSON.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { NodeSDK } from '@opentelemetry/sdk-node';
import { InMemorySpanExporter, SimpleSpanProcessor } from '@opentelemetry/sdk-trace-base';
import { createMesh, getTraceId } from '../../src/index.js';
import { StaticResolver } from '../../src/extend.js';

const exporter = new InMemorySpanExporter();
if (process.env.TRACE_SDK === '1') {
  process.env.OTEL_METRICS_EXPORTER = 'none';
  process.env.OTEL_LOGS_EXPORTER = 'none';
  new NodeSDK({ serviceName: 'trace-hop', spanProcessors: [new SimpleSpanProcessor(exporter)], instrumentations: [] }).start();
}

const passthrough = process.env.TRACE_PASSTHROUGH!;
const lines: string[] = [];
const resolver = new StaticResolver();
resolver.set('echo', [{ address: '127.0.0.1', port: Number(process.env.TRACE_MESH_PORT) }]);
const propagateTo = process.env.TRACE_PROPAGATE_TO ? (JSON.parse(process.env.TRACE_PROPAGATE_TO) as boolean | string[]) : undefined;
const mesh = await createMesh({
  resolver,
  service: 'hop',
  server: { drainDelayMs: 0 },
  telemetry: { accessLog: (line) => void lines.push(line), ...(propagateTo === undefined ? {} : { propagateTo }) },
});

const server = mesh.wrapServer(
  http.createServer((req, res) => {
    if (req.url === '/log') return void res.end(JSON.stringify(lines.splice(0)));
    if (req.url === '/spans') {
      const spans = exporter.getFinishedSpans().map((s) => ({ kind: s.kind, spanId: s.spanContext().spanId, traceId: s.spanContext().traceId, url: s.attributes['url.full'] }));
      exporter.reset();
      return void res.end(JSON.stringify(spans));
    }
    void (async () => {
      const a = await mesh.request('http://echo/hop');
      await a.body.dump();
      // `/fetch`: the pass-through call through mesh.fetch (undici's fetch, a handler of the new shape).
      if (req.url === '/fetch') await (await mesh.fetch(`${passthrough}/hop`)).text();
      else await (await mesh.request(`${passthrough}/hop`)).body.dump();
      res.end(JSON.stringify({ traceId: getTraceId(req) ?? null }));
    })().catch((err: unknown) => res.writeHead(500).end(String(err)));
  }),
  { register: false },
);
server.listen(0, '127.0.0.1', () => console.log(`ready port=${(server.address() as AddressInfo).port}`));
process.on('SIGTERM', () => void mesh.close().then(() => process.exit(0)));
