/**
 * One request, one trace, across real mesh processes (issue 6, must-show 1).
 *
 * A secure control plane; web -> api -> db, each examples/telemetry/service.js
 * with createMesh and wrapServer, each running @opentelemetry/sdk-node with an
 * in-memory exporter (examples/telemetry/otel.js, loaded with --import); db has
 * two instances, v1 and v2, and a Route sends api's calls to subset v2, whose
 * one instance answers every other request 503: of two calls in a row, one is
 * retried (GET on 503, the default retry policy) and succeeds. This test
 * process is a mesh client with its own SDK and starts the trace. Nothing in
 * the services wires telemetry by hand: the spans are the mesh's.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { SpanKind, SpanStatusCode, trace } from '@opentelemetry/api';
import { NodeSDK } from '@opentelemetry/sdk-node';
import { InMemorySpanExporter, SimpleSpanProcessor } from '@opentelemetry/sdk-trace-base';
import { spanToJson } from '../../examples/telemetry/span-json.js';
import { createMesh, type Mesh } from '../../src/index.js';
import { startControlPlane, type RunningControlPlane } from '../helpers/control-plane.js';
import { startTelemetryService, type SpanJson, type TelemetryService } from '../helpers/telemetry-services.js';
import { apply, routeDoc, serviceDoc } from './traffic-helpers.js';

process.env.OTEL_METRICS_EXPORTER = 'none';
process.env.OTEL_LOGS_EXPORTER = 'none';
const exporter = new InMemorySpanExporter();
const sdk = new NodeSDK({ serviceName: 'test-client', spanProcessors: [new SimpleSpanProcessor(exporter)], instrumentations: [] });

type Span = SpanJson;

describe('one trace through web -> api -> db (real processes, sdk-node in each, in-memory exporters)', { timeout: 120_000 }, () => {
  let cp: RunningControlPlane;
  let mesh: Mesh;
  const services: TelemetryService[] = [];

  before(async () => {
    sdk.start();
    cp = await startControlPlane();
    const start = (name: string, service: string, env: Record<string, string> = {}) => startTelemetryService(cp, name, service, { traces: true, env });
    services.push(
      ...(await Promise.all([
        start('db-ok', 'db', { VERSION: 'v1' }),
        start('db-503', 'db', { VERSION: 'v2', FAIL_STATUS: '503', FAIL_RATE: '0.5' }),
        start('api', 'api', { CALLS: 'db' }),
        start('web', 'web', { CALLS: 'api' }),
      ])),
    );
    await apply(
      cp.url,
      serviceDoc('db', {
        subsets: [
          { name: 'v1', labels: { version: 'v1' } },
          { name: 'v2', labels: { version: 'v2' } },
        ],
      }),
      routeDoc('db-split', [{ name: 'to-v2', backendRefs: [{ name: 'db', subset: 'v2' }] }], 'db'),
    );
    mesh = await createMesh(await cp.meshOptions('test-client'));
  });

  after(async () => {
    await mesh?.close();
    await Promise.all(services.map((s) => s.child.kill('SIGTERM')));
    await cp?.stop();
    await sdk.shutdown();
  });

  /** Every span of one trace, from this process and the four services (server spans end just after the response: poll). */
  async function traceOf(traceId: string, atLeast: number): Promise<Span[]> {
    const deadline = Date.now() + 5_000;
    for (;;) {
      const remote = (await Promise.all(services.map((s) => s.spans()))).flat();
      const spans = [...exporter.getFinishedSpans().map((s) => spanToJson(s, 'test-client')), ...remote].filter((s) => s.traceId === traceId);
      if (spans.length >= atLeast || Date.now() > deadline) return spans;
      await new Promise((r) => setTimeout(r, 50));
    }
  }

  it('server and client spans are parented hop by hop; every attempt shows, a retry with its reason; route and subset; semconv attribute names', async () => {
    const tracer = trace.getTracer('test');
    const db = (name: string) => services.find((s) => s.name === name)!.instance!;
    // Until api has the Route, its calls may go to db-ok; then every other one fails first and is retried.
    let checked = 0;
    let retried = false;
    let routed = 0;
    for (let i = 0; i < 40 && !(retried && routed >= 2); i++) {
      const { traceId, status } = await tracer.startActiveSpan('root', async (root) => {
        const res = await mesh.request('http://web/items/7?x=1');
        await res.body.text();
        root.end();
        return { traceId: root.spanContext().traceId, status: res.statusCode };
      });
      // root + test client + web server/client + api server/client + one db server per attempt.
      const spans = await traceOf(traceId, 7);
      const show = spans.map((s) => `${s.service.padEnd(11)} ${String(SpanKind[s.kind]).padEnd(8)} ${s.name.padEnd(6)} ${s.spanId}<-${s.parentSpanId ?? '-'}`);
      const one = (pred: (s: Span) => boolean, what: string): Span => {
        const found = spans.filter(pred);
        assert.equal(found.length, 1, `one ${what}; trace:\n${show.join('\n')}`);
        return found[0]!;
      };
      const rootSpan = one((s) => s.name === 'root', 'root span');
      const testClient = one((s) => s.service === 'test-client' && s.kind === SpanKind.CLIENT, 'client span in this process');
      const webServer = one((s) => s.service === 'web' && s.kind === SpanKind.SERVER, 'web SERVER span');
      const webClient = one((s) => s.service === 'web' && s.kind === SpanKind.CLIENT, 'web CLIENT span');
      const apiServer = one((s) => s.service === 'api' && s.kind === SpanKind.SERVER, 'api SERVER span');
      const apiClient = one((s) => s.service === 'api' && s.kind === SpanKind.CLIENT, 'api CLIENT span');
      const dbServers = spans.filter((s) => s.service === 'db' && s.kind === SpanKind.SERVER);

      // Parented hop by hop, across processes.
      assert.equal(testClient.parentSpanId, rootSpan.spanId);
      assert.equal(webServer.parentSpanId, testClient.spanId);
      assert.equal(webServer.parentIsRemote, true);
      assert.equal(webClient.parentSpanId, webServer.spanId);
      assert.equal(apiServer.parentSpanId, webClient.spanId);
      assert.equal(apiClient.parentSpanId, apiServer.spanId);
      assert.ok(dbServers.length >= 1);
      for (const s of dbServers) assert.equal(s.parentSpanId, apiClient.spanId, 'every attempt is a child of the logical client span');

      // Every attempt is an event on the call's span, with the endpoint it went to; as many as db served.
      const attempts = apiClient.events.filter((e) => e.name === 'hyphae.attempt');
      assert.equal(attempts.length, dbServers.length, show.join('\n'));
      attempts.forEach((a, k) => {
        assert.equal(a.attributes['http.request.resend_count'], k);
        assert.ok([db('db-ok'), db('db-503')].includes(String(a.attributes['hyphae.endpoint'])), JSON.stringify(a.attributes));
      });
      if (apiClient.attributes['hyphae.subset'] === 'v2') {
        // The Route reached api: its calls name the rule and subset, and go to the v2 instance only.
        routed++;
        assert.equal(apiClient.attributes['hyphae.route'], 'to-v2');
        assert.ok(
          attempts.every((a) => a.attributes['hyphae.endpoint'] === db('db-503')),
          JSON.stringify(attempts.map((a) => a.attributes)),
        );
        assert.equal(status, 200, 'a failed attempt of v2 is retried, and the retry succeeds');
        if (attempts.length > 1) {
          retried = true;
          console.log(`trace with a retried call:\n  ${show.join('\n  ')}\n  api -> db attempts: ${JSON.stringify(attempts.map((a) => a.attributes))}`);
          assert.equal(attempts.length, 2);
          assert.equal(attempts[0]!.attributes['http.response.status_code'], 503);
          assert.equal(attempts[0]!.attributes['hyphae.retry.reason'], undefined, 'the first attempt is no retry');
          // The reason in the retry policy's words: the same value the hyphae.client.retries metric carries.
          assert.equal(attempts[1]!.attributes['hyphae.retry.reason'], 'retriable-status');
          assert.equal(attempts[1]!.attributes['http.response.status_code'], 200);
          assert.equal(apiClient.attributes['http.request.resend_count'], 1);
          assert.equal(apiClient.attributes['http.response.status_code'], 200);
          assert.equal(apiClient.attributes['hyphae.outcome'], 'success');
          assert.equal(apiClient.status.code, SpanStatusCode.UNSET);
        } else {
          assert.equal(attempts[0]!.attributes['http.response.status_code'], 200);
        }
      }

      // Semantic-convention names on a client and a server span, and the mesh's own.
      assert.equal(webClient.name, 'GET');
      assert.equal(webClient.attributes['http.request.method'], 'GET');
      assert.equal(webClient.attributes['url.full'], 'http://api/items/7', 'no query string: its values may be secrets');
      assert.equal(webClient.attributes['server.port'], 80);
      assert.equal(webClient.attributes['server.address'], 'api');
      assert.equal(webClient.attributes['hyphae.destination.service'], 'api');
      assert.equal(webClient.attributes['hyphae.service'], 'web');
      assert.match(String(webClient.attributes['hyphae.endpoint']), /^127\.0\.0\.1:\d+$/);
      assert.equal(apiServer.name, 'GET /');
      assert.equal(apiServer.attributes['http.route'], '/');
      assert.equal(apiServer.attributes['url.path'], '/items/7');
      assert.equal(apiServer.attributes['url.scheme'], 'https', 'mTLS between services');
      assert.equal(apiServer.attributes['network.protocol.version'], '1.1');
      assert.equal(apiServer.attributes['client.address'], '127.0.0.1');
      assert.equal(typeof apiServer.attributes['server.port'], 'number');
      assert.equal(apiServer.attributes['hyphae.source.service'], 'web', 'the caller, from its verified certificate');
      assert.match(String(apiServer.attributes['hyphae.peer.identity']), /^spiffe:\/\/[^/]+\/ns\/default\/sa\/web$/);
      if (status === 200) assert.equal(apiServer.attributes['http.response.status_code'], 200);
      checked++;
    }
    assert.ok(routed >= 2, `the Route reached api within 40 requests (${routed} routed)`);
    assert.ok(retried, 'of the routed calls, one was retried');
    console.log(`${checked} traces checked, ${routed} through the Route`);
  });
});
