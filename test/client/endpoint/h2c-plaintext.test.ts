/**
 * A plaintext mesh (no mTLS) and HTTP/2 (issue 18): h2c only when the Service forces it (prior knowledge,
 * against `http2.createServer()`), HTTP/1.1 otherwise; the client span says which (`network.protocol.version`).
 * Real loopback servers, a static resolver that carries the Service spec.
 */
import assert from 'node:assert/strict';
import http from 'node:http';
import http2 from 'node:http2';
import type { AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { SpanKind } from '@opentelemetry/api';
import { BasicTracerProvider, InMemorySpanExporter, SimpleSpanProcessor } from '@opentelemetry/sdk-trace-base';
import { createMesh, type Mesh } from '../../../src/index.js';
import { StaticResolver } from '../../../src/extend.js';

describe('HTTP/2 on a plaintext mesh', () => {
  const exporter = new InMemorySpanExporter();
  const tracerProvider = new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(exporter)] });
  const resolver = new StaticResolver();
  let h2c: http2.Http2Server;
  let h1: http.Server;
  let mesh: Mesh;
  let h2cSessions = 0;

  before(async () => {
    h2c = http2.createServer((req, res) => res.end(`${req.httpVersion} ${req.url}`));
    h2c.on('session', () => h2cSessions++);
    h1 = http.createServer((req, res) => res.end(`${req.httpVersion} ${req.url}`));
    await Promise.all([new Promise<void>((r) => h2c.listen(0, '127.0.0.1', r)), new Promise<void>((r) => h1.listen(0, '127.0.0.1', r))]);
    resolver.set('fast', [{ address: '127.0.0.1', port: (h2c.address() as AddressInfo).port }]);
    resolver.configure('fast', { config: { loadBalancer: 'peak_ewma', protocol: 'h2' } });
    resolver.set('plain', [{ address: '127.0.0.1', port: (h1.address() as AddressInfo).port }]);
    mesh = await createMesh({ resolver, service: 'web', telemetry: { tracerProvider } });
  });

  after(async () => {
    await mesh.close();
    await tracerProvider.shutdown();
    h2c.close();
    await new Promise<void>((r) => h1.close(() => r()));
  });

  it('protocol: h2 speaks h2c with prior knowledge; auto stays on HTTP/1.1; spans say which', async () => {
    const answers = await Promise.all(Array.from({ length: 20 }, async (_, i) => (await mesh.request(`http://fast/${i}`)).body.text()));
    answers.forEach((a, i) => assert.equal(a, `2.0 /${i}`));
    assert.ok(h2cSessions >= 1 && h2cSessions <= 4, `${h2cSessions} sessions for 20 calls`);
    assert.equal(await (await mesh.request('http://plain/x')).body.text(), '1.1 /x');
    const clientSpans = exporter.getFinishedSpans().filter((s) => s.kind === SpanKind.CLIENT);
    const versions = (dest: string) => new Set(clientSpans.filter((s) => s.attributes['server.address'] === dest).map((s) => s.attributes['network.protocol.version']));
    assert.deepEqual([...versions('fast')], ['2']);
    assert.deepEqual([...versions('plain')], ['1.1']);
  });
});
