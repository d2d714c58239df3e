/**
 * The mesh's grpc-js server interceptor and client interceptor together, on
 * real grpc-js servers and clients and wrapped HTTP servers (127.0.0.1,
 * plaintext, discovery by a StaticResolver): the deadline across HTTP -> gRPC
 * -> HTTP, AuthorizationPolicies on method paths (PERMISSION_DENIED, the
 * denied counter, the bypass corpus), and RPC spans and metrics; hostile
 * metadata (deadline, traceparent) on the way.
 */
import assert from 'node:assert/strict';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import * as grpc from '@grpc/grpc-js';
import { SpanKind } from '@opentelemetry/api';
import { BasicTracerProvider, InMemorySpanExporter, SimpleSpanProcessor } from '@opentelemetry/sdk-trace-base';
import { MeterProvider, MetricReader, type MetricData } from '@opentelemetry/sdk-metrics';
import { createMesh, type Mesh } from '../../src/index.js';
import { StaticResolver } from '../../src/extend.js';
import { clientInterceptors } from '../../src/grpc/client-interceptors.js';
import { meshGrpcServerOptions } from '../../src/grpc/server-options.js';
import { meshServerInterceptor } from '../../src/grpc/server-interceptors.js';
import { ServerPolicy } from '../../src/grpc/server-policy.js';
import { TestPolicySource } from '../helpers/policy-source.js';
import { corpus } from '../helpers/corpus.js';
import { ECHO, listen, method, statusOf, unary, type Msg } from '../helpers/grpc-echo.js';
import { policy } from '../server/authz/authz-cases.js';

class TestReader extends MetricReader {
  protected override async onForceFlush(): Promise<void> {}
  protected override async onShutdown(): Promise<void> {}
}

async function points(reader: MetricReader, name: string): Promise<{ value: unknown; attributes: Record<string, unknown> }[]> {
  const { resourceMetrics } = await reader.collect();
  const all: MetricData[] = resourceMetrics.scopeMetrics.flatMap((s) => s.metrics);
  return (all.find((m) => m.descriptor.name === name)?.dataPoints ?? []) as { value: unknown; attributes: Record<string, unknown> }[];
}

describe('gRPC server interceptor: deadline, authorization, telemetry', () => {
  const resolver = new StaticResolver();
  const exporter = new InMemorySpanExporter();
  const tracerProvider = new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(exporter)] });
  const reader = new TestReader();
  const meterProvider = new MeterProvider({ readers: [reader] });
  const telemetry = { tracerProvider, meterProvider };
  /** x-hyphae-deadline-ms seen by the plain HTTP service the gRPC handler calls. */
  const seenByHttp: (string | undefined)[] = [];
  /** What the gRPC handler saw of its own deadline (ms left when it ran). */
  const grpcLeft: number[] = [];
  let handled = 0;
  let api: Mesh;
  let web: Mesh;
  let plain: http.Server;
  let front: http.Server;
  let server: grpc.Server;
  let grpcPort: number;
  let frontPort: number;
  const clients: grpc.Client[] = [];

  const client = (mesh: Mesh) => {
    const c = new grpc.Client(`127.0.0.1:${grpcPort}`, grpc.credentials.createInsecure(), {
      interceptors: clientInterceptors(mesh.adapterHost(), { namespace: 'default', service: 'api' }),
    });
    clients.push(c);
    return c;
  };

  before(async () => {
    plain = http.createServer((req, res) => {
      seenByHttp.push(req.headers['x-hyphae-deadline-ms'] as string | undefined);
      res.end('ok');
    });
    await new Promise<void>((r) => plain.listen(0, '127.0.0.1', r));
    resolver.set('store', [{ address: '127.0.0.1', port: (plain.address() as AddressInfo).port }]);
    resolver.configure('api', { policies: [policy('deny-admin', 'DENY', [{ to: { paths: [{ type: 'Exact', value: '/test.Echo/Admin' }] } }])] });

    api = await createMesh({ resolver, service: 'api', telemetry });
    web = await createMesh({ resolver, service: 'web', telemetry, server: { drainDelayMs: 0 } });
    server = new grpc.Server(meshGrpcServerOptions(api));
    server.addService(ECHO, {
      // Calls the plain HTTP service through the mesh: its request carries the budget this call has left.
      Unary: (call: grpc.ServerUnaryCall<Msg, Msg>, cb: grpc.sendUnaryData<Msg>) => {
        handled++;
        const d = call.getDeadline();
        grpcLeft.push((d instanceof Date ? d.getTime() : d) - Date.now());
        api.request('http://store/x').then(
          async (r) => {
            await r.body.text();
            cb(null, { ok: true });
          },
          (err: unknown) => cb({ code: grpc.status.INTERNAL, details: String(err) }),
        );
      },
      Admin: (_call: grpc.ServerUnaryCall<Msg, Msg>, cb: grpc.sendUnaryData<Msg>) => {
        handled++;
        cb(null, { admin: true });
      },
      ServerStream: (call: grpc.ServerWritableStream<Msg, Msg>) => call.end(),
      ClientStream: (_call: grpc.ServerReadableStream<Msg, Msg>, cb: grpc.sendUnaryData<Msg>) => cb(null, {}),
    });
    grpcPort = await listen(server);
    resolver.set('api', [{ address: '127.0.0.1', port: grpcPort }]);

    // A wrapped HTTP server whose handler calls the gRPC service: its call gets the HTTP request's budget.
    const grpcFromHttp = client(web);
    front = web.wrapServer(
      http.createServer((_req, res) => {
        unary(grpcFromHttp, ECHO.Unary.path, {}).then(
          () => res.end('ok'),
          (err: unknown) => res.end(`failed: ${String(err)}`),
        );
      }),
    );
    await new Promise<void>((r) => front.listen(0, '127.0.0.1', r));
    frontPort = (front.address() as AddressInfo).port;
  });

  after(async () => {
    for (const c of clients) c.close();
    server.forceShutdown();
    plain.close();
    front.closeAllConnections();
    await Promise.all([web.close(), api.close()]);
    await tracerProvider.shutdown();
    await meterProvider.shutdown();
  });

  it("a gRPC handler's mesh HTTP call carries x-hyphae-deadline-ms: the time the gRPC call has left", async () => {
    seenByHttp.length = 0;
    await unary(client(web), ECHO.Unary.path, {}, { deadline: Date.now() + 3000 });
    const ms = Number(seenByHttp[0]);
    assert.ok(ms > 1000 && ms <= 3000, `x-hyphae-deadline-ms ${seenByHttp[0]}`);
  });

  it('x-hyphae-deadline-ms in metadata: the earlier of it and grpc-timeout wins; malformed or huge values are not believed', async () => {
    const c = client(web);
    const md = (v: string) => {
      const m = new grpc.Metadata();
      m.set('x-hyphae-deadline-ms', v);
      return m;
    };
    seenByHttp.length = 0;
    await unary(c, ECHO.Unary.path, {}, { deadline: Date.now() + 10_000 }, md('800'));
    await unary(c, ECHO.Unary.path, {}, { deadline: Date.now() + 2_000 }, md('9999999999'));
    for (const bad of ['-5', 'abc', '1e3', ' ', '12 34']) await unary(c, ECHO.Unary.path, {}, { deadline: Date.now() + 2_000 }, md(bad));
    const seen = seenByHttp.map(Number);
    assert.ok(seen[0]! > 0 && seen[0]! <= 800, `metadata budget wins: ${seenByHttp[0]}`);
    for (const [i, v] of seen.slice(1).entries()) assert.ok(v > 500 && v <= 2000, `grpc-timeout wins over a hostile value (#${i}): ${v}`);
    // Nothing left: refused before the handler.
    const before = handled;
    const err = await unary(c, ECHO.Unary.path, {}, {}, md('0')).catch((e: unknown) => e);
    assert.equal(statusOf(err), grpc.status.DEADLINE_EXCEEDED);
    assert.match(String((err as grpc.ServiceError).details), /HYPHAE_ERR_DEADLINE_EXCEEDED/);
    assert.equal(handled, before);
  });

  it("an HTTP handler's gRPC call carries grpc-timeout: the time the HTTP request has left", async () => {
    grpcLeft.length = 0;
    const res = await fetch(`http://127.0.0.1:${frontPort}/`, { headers: { 'x-hyphae-deadline-ms': '2000' } });
    assert.equal(await res.text(), 'ok');
    assert.ok(grpcLeft[0]! > 500 && grpcLeft[0]! <= 2000, `the gRPC handler had ${grpcLeft[0]} ms`);
    // And without a budget, the gRPC call has none either.
    grpcLeft.length = 0;
    await (await fetch(`http://127.0.0.1:${frontPort}/`)).text();
    assert.equal(grpcLeft[0], Infinity);
  });

  it("a method path an AuthorizationPolicy denies: PERMISSION_DENIED naming no policy (as HTTP's 403), counted as denied; others pass", async () => {
    const c = client(web);
    const before = handled;
    const err = await unary(c, ECHO.Admin.path, {}).catch((e: unknown) => e);
    assert.equal(statusOf(err), grpc.status.PERMISSION_DENIED);
    assert.match((err as grpc.ServiceError).details, /^HYPHAE_ERR_AUTHZ_DENIED: denied by an authorization policy \(\/test\.Echo\/Admin\)$/);
    assert.equal(handled, before);
    assert.deepEqual(await unary(c, ECHO.Unary.path, {}), { ok: true });
    const denied = await points(reader, 'hyphae.server.requests.denied');
    assert.ok(
      denied.some((p) => p.attributes['hyphae.policy'] === 'default/deny-admin' && p.attributes['hyphae.service'] === 'api'),
      JSON.stringify(denied),
    );
  });

  it('spans: CLIENT and SERVER with the RPC attributes, one trace; rpc.client.duration and rpc.server.duration', async () => {
    exporter.reset();
    await unary(client(web), ECHO.Unary.path, {});
    const spans = exporter.getFinishedSpans();
    const clientSpan = spans.find((s) => s.kind === SpanKind.CLIENT && s.name === 'test.Echo/Unary');
    const serverSpan = spans.find((s) => s.kind === SpanKind.SERVER && s.name === 'test.Echo/Unary');
    assert.ok(clientSpan && serverSpan, spans.map((s) => `${s.kind} ${s.name}`).join(', '));
    for (const s of [clientSpan, serverSpan]) {
      assert.equal(s.attributes['rpc.system'], 'grpc');
      assert.equal(s.attributes['rpc.service'], 'test.Echo');
      assert.equal(s.attributes['rpc.method'], 'Unary');
      assert.equal(s.attributes['rpc.grpc.status_code'], 0);
    }
    assert.equal(clientSpan.attributes['server.address'], 'api');
    assert.equal(clientSpan.attributes['hyphae.destination.service'], 'api');
    assert.equal(clientSpan.attributes['hyphae.destination.namespace'], 'default');
    assert.equal(serverSpan.spanContext().traceId, clientSpan.spanContext().traceId);
    assert.equal(serverSpan.parentSpanContext?.spanId, clientSpan.spanContext().spanId);
    // The handler's own mesh HTTP call is a child of the SERVER span.
    const httpCall = spans.find((s) => s.kind === SpanKind.CLIENT && s !== clientSpan && s.spanContext().traceId === clientSpan.spanContext().traceId);
    assert.equal(httpCall?.parentSpanContext?.spanId, serverSpan.spanContext().spanId);

    const rpcClient = await points(reader, 'rpc.client.duration');
    const rpcServer = await points(reader, 'rpc.server.duration');
    assert.ok(
      rpcClient.some((p) => p.attributes['rpc.method'] === 'Unary' && p.attributes['rpc.grpc.status_code'] === 0 && p.attributes['server.address'] === 'api'),
      JSON.stringify(rpcClient),
    );
    assert.ok(
      rpcServer.some((p) => p.attributes['rpc.method'] === 'Admin' && p.attributes['rpc.grpc.status_code'] === grpc.status.PERMISSION_DENIED),
      JSON.stringify(rpcServer),
    );
  });

  it('a malformed or oversized traceparent starts a new trace; the call is served', async () => {
    const c = new grpc.Client(`127.0.0.1:${grpcPort}`, grpc.credentials.createInsecure());
    clients.push(c);
    for (const tp of ['00-zz-yy-01', `00-${'0'.repeat(32)}-${'1'.repeat(16)}-01`, 'x'.repeat(4000), '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-extra']) {
      exporter.reset();
      const md = new grpc.Metadata();
      md.set('traceparent', tp);
      assert.deepEqual(await unary(c, ECHO.Unary.path, {}, {}, md), { ok: true });
      const server = exporter.getFinishedSpans().find((s) => s.kind === SpanKind.SERVER);
      assert.ok(server, 'a SERVER span');
      assert.equal(server.parentSpanContext, undefined, `no parent from ${tp.slice(0, 80)}`);
    }
  });
});

describe('gRPC server interceptor: the bypass corpus as method paths', () => {
  const BYPASS = corpus('path-bypass.txt');
  const LONG = `/admin/${'a'.repeat(6000)}`;
  const resolver = new StaticResolver();
  let mesh: Mesh;
  let server: grpc.Server;
  let c: grpc.Client;
  const handled: string[] = [];

  before(async () => {
    mesh = await createMesh({ resolver, service: 'vault', telemetry: { enabled: false } });
    server = new grpc.Server({ ...meshGrpcServerOptions(mesh), 'grpc.max_receive_message_length': 1024 });
    // The application registers a handler at every line: each one that reaches grpc-js's router reaches the policy.
    const service: Record<string, grpc.MethodDefinition<Msg, Msg>> = {};
    const handlers: Record<string, grpc.handleUnaryCall<Msg, Msg>> = {};
    BYPASS.forEach((line, i) => {
      service[`M${i}`] = method(line);
      handlers[`M${i}`] = (call, cb) => {
        handled.push(line);
        cb(null, {});
      };
    });
    service.Long = method(LONG);
    handlers.Long = (_call, cb) => {
      handled.push('long');
      cb(null, {});
    };
    server.addService(service, handlers);
    const port = await listen(server);
    c = new grpc.Client(`127.0.0.1:${port}`, grpc.credentials.createInsecure());
  });

  after(async () => {
    c.close();
    server.forceShutdown();
    await mesh.close();
  });

  const policies = {
    'DENY PathPrefix /admin': [policy('deny-admin', 'DENY', [{ to: { paths: [{ type: 'PathPrefix', value: '/admin' }] } }])],
    'ALLOW PathPrefix /public': [policy('allow-public', 'ALLOW', [{ to: { paths: [{ type: 'PathPrefix', value: '/public' }] } }])],
  };
  for (const [label, set] of Object.entries(policies)) {
    it(`${label}: no line reaches its handler`, async () => {
      resolver.configure('vault', { policies: set });
      resolver.set('vault', []);
      handled.length = 0;
      const by = new Map<string, number>();
      for (const line of BYPASS) {
        const err = await unary(c, line, {}).then(
          () => undefined,
          (e: unknown) => e,
        );
        const code = statusOf(err);
        const key = code === undefined ? 'served' : grpc.status[code]!;
        by.set(key, (by.get(key) ?? 0) + 1);
      }
      console.log(`# grpc ${label}: ${BYPASS.length} lines; ${[...by].map(([k, v]) => `${k}: ${v}`).join(', ')}`);
      assert.deepEqual(handled, []);
      assert.ok((by.get('PERMISSION_DENIED') ?? 0) > 0, 'lines reached the policy and were denied');
    });
  }

  it('an oversized method path is denied, and not echoed in full', async () => {
    handled.length = 0;
    const err = await unary(c, LONG, {}).catch((e: unknown) => e);
    assert.equal(statusOf(err), grpc.status.PERMISSION_DENIED);
    assert.ok((err as grpc.ServiceError).details.length < 600, `${(err as grpc.ServiceError).details.length} characters of details`);
    assert.deepEqual(handled, []);
  });
});

describe('gRPC server interceptor: before the policies are known', () => {
  it('a call waits for them, then is judged by them', async () => {
    const mesh = await createMesh({ resolver: new StaticResolver(), service: 'late', telemetry: { enabled: false } });
    // The mesh's host, with a policy source that has not answered yet (a control plane still on its way).
    const source = new TestPolicySource();
    const host = { ...mesh.adapterHost(), policies: () => source };
    let arrived = 0;
    let onArrival: () => void = () => {};
    // Outside the mesh's interceptor: tells when a call reached the server, before the mesh holds it.
    const spy: grpc.ServerInterceptor = (_m, call) =>
      new grpc.ServerInterceptingCall(call, {
        start: (next) =>
          next({
            onReceiveMetadata: (md, go) => {
              arrived++;
              onArrival();
              go(md);
            },
          }),
      });
    const server = new grpc.Server({ interceptors: [spy, meshServerInterceptor(new ServerPolicy(host))] });
    let handled = 0;
    server.addService(ECHO, {
      Unary: (_call: grpc.ServerUnaryCall<Msg, Msg>, cb: grpc.sendUnaryData<Msg>) => {
        handled++;
        cb(null, { ok: true });
      },
      Admin: (_call: grpc.ServerUnaryCall<Msg, Msg>, cb: grpc.sendUnaryData<Msg>) => {
        handled++;
        cb(null, {});
      },
    });
    const port = await listen(server);
    const c = new grpc.Client(`127.0.0.1:${port}`, grpc.credentials.createInsecure());
    try {
      const bothArrived = new Promise<void>((resolve) => (onArrival = () => arrived === 2 && resolve()));
      const allowed = unary(c, ECHO.Unary.path, {});
      const denied = unary(c, ECHO.Admin.path, {}).catch((e: unknown) => e);
      await bothArrived;
      assert.equal(handled, 0, 'held, not served unchecked');
      source.set([policy('deny-admin', 'DENY', [{ to: { paths: [{ type: 'Exact', value: '/test.Echo/Admin' }] } }])]);
      assert.deepEqual(await allowed, { ok: true });
      assert.equal(statusOf(await denied), grpc.status.PERMISSION_DENIED);
      assert.equal(handled, 1);
    } finally {
      c.close();
      server.forceShutdown();
      await mesh.close();
    }
  });
});
