/**
 * The mesh's client interceptor on real grpc-js clients and servers
 * (127.0.0.1, plaintext: identity is not the point here): retries on gRPC
 * status within the destination's retry budget (the one its HTTP calls
 * spend), never after response metadata, never for a status not listed,
 * never for client-streaming calls; each decision reaching the mesh's hooks.
 */
import assert from 'node:assert/strict';
import http2 from 'node:http2';
import type { AddressInfo, Socket } from 'node:net';
import { after, before, describe, it } from 'node:test';
import * as grpc from '@grpc/grpc-js';
import { createMesh, type Mesh, type RetryHookEvent } from '../../src/index.js';
import { StaticResolver } from '../../src/extend.js';
import { serviceSpecSchema } from '../../src/config/resources.js';
import { clientInterceptors } from '../../src/grpc/client-interceptors.js';
import { ECHO, listen, serverStream, statusOf, unary, type Msg } from '../helpers/grpc-echo.js';

describe('gRPC client interceptor: retries', () => {
  const resolver = new StaticResolver();
  const retries: RetryHookEvent[] = [];
  /** Per test: how many tries of each call fail, and how. */
  let failFirst = 0;
  let failWith = grpc.status.UNAVAILABLE;
  let afterHeaders = false;
  let tries = 0;
  let mesh: Mesh;
  let server: grpc.Server;
  let port: number;
  const clients: grpc.Client[] = [];

  const fail = (call: grpc.ServerUnaryCall<Msg, Msg> | grpc.ServerWritableStream<Msg, Msg>): grpc.ServiceError | undefined => {
    tries++;
    if (tries > failFirst) return undefined;
    if (afterHeaders) call.sendMetadata(new grpc.Metadata());
    return Object.assign(new Error('failing on purpose'), { code: failWith, details: 'failing on purpose', metadata: new grpc.Metadata() });
  };

  const client = (service: string, retry?: { on?: string[]; attempts?: number }) => {
    const c = new grpc.Client(`127.0.0.1:${port}`, grpc.credentials.createInsecure(), {
      interceptors: clientInterceptors(mesh.adapterHost(), { namespace: 'default', service }, retry),
    });
    clients.push(c);
    return c;
  };

  const reset = (n: number, code = grpc.status.UNAVAILABLE, headers = false) => {
    failFirst = n;
    failWith = code;
    afterHeaders = headers;
    tries = 0;
    retries.length = 0;
  };

  before(async () => {
    const fast = { backoff: { base: 1, max: 5 } };
    resolver.configure('api', { config: serviceSpecSchema.parse({ retries: { attempts: 4, ...fast }, retryBudget: { percent: 100, minPerSecond: 100 } }) });
    // A budget that allows no retry at all: the first failure is the answer.
    resolver.configure('slow', { config: serviceSpecSchema.parse({ retries: { attempts: 5, backoff: { base: 5000, max: 5000 } }, retryBudget: { percent: 100, minPerSecond: 100 } }) });
    resolver.configure('tight', { config: serviceSpecSchema.parse({ retries: { attempts: 4, ...fast }, retryBudget: { percent: 0, minPerSecond: 0 } }) });
    mesh = await createMesh({ resolver, service: 'web', hooks: { onRetry: (e) => retries.push(e) } });
    await mesh.start();
    server = new grpc.Server();
    server.addService(ECHO, {
      Unary: (call: grpc.ServerUnaryCall<Msg, Msg>, cb: grpc.sendUnaryData<Msg>) => {
        const err = fail(call);
        if (err) cb(err);
        else cb(null, { echo: call.request, tries });
      },
      Admin: (_call: grpc.ServerUnaryCall<Msg, Msg>, cb: grpc.sendUnaryData<Msg>) => cb(null, {}),
      ServerStream: (call: grpc.ServerWritableStream<Msg, Msg>) => {
        const err = fail(call);
        if (err) return void call.emit('error', err);
        for (let i = 0; i < 3; i++) call.write({ i, echo: call.request });
        call.end();
      },
      ClientStream: (call: grpc.ServerReadableStream<Msg, Msg>, cb: grpc.sendUnaryData<Msg>) => {
        const got: Msg[] = [];
        call.on('data', (m: Msg) => got.push(m));
        call.on('end', () => {
          tries++;
          if (tries <= failFirst) cb({ code: failWith, details: 'failing on purpose' });
          else cb(null, { got: got.length });
        });
      },
    });
    port = await listen(server);
    // The destinations' Service specs (budget, attempts) are in force once discovery answered for them.
    const rt = await mesh.adapterHost().started();
    for (const name of ['api', 'tight', 'slow']) resolver.set(name, [{ address: '127.0.0.1', port }]);
    await Promise.all(['api', 'tight', 'slow'].map((name) => rt.destinations.destination(name).whenReady({ setOnAbort() {} })));
  });

  after(async () => {
    for (const c of clients) c.close();
    server.forceShutdown();
    await mesh.close();
  });

  it('a server failing the first tries with UNAVAILABLE: retried, the caller gets the answer', async () => {
    reset(2);
    const res = await unary(client('api'), ECHO.Unary.path, { hello: 'world' });
    assert.deepEqual(res, { echo: { hello: 'world' }, tries: 3 });
    assert.deepEqual(
      retries.map((e) => [e.decision, e.condition, e.destination, e.attempt, e.endpoint]),
      [
        ['retry', 'UNAVAILABLE', 'api', 0, `127.0.0.1:${port}`],
        ['retry', 'UNAVAILABLE', 'api', 1, `127.0.0.1:${port}`],
      ],
    );
  });

  it('attempts run out: the last failure is the answer', async () => {
    reset(10);
    const err = await unary(client('api', { attempts: 2 }), ECHO.Unary.path, {}).catch((e: unknown) => e);
    assert.equal(statusOf(err), grpc.status.UNAVAILABLE);
    assert.equal(tries, 2);
    assert.deepEqual(
      retries.map((e) => e.decision),
      ['retry', 'attempts-exhausted'],
    );
  });

  it('the retry budget spent: no retry', async () => {
    reset(1);
    const err = await unary(client('tight'), ECHO.Unary.path, {}).catch((e: unknown) => e);
    assert.equal(statusOf(err), grpc.status.UNAVAILABLE);
    assert.equal(tries, 1);
    assert.deepEqual(
      retries.map((e) => [e.decision, e.destination]),
      [['budget-exhausted', 'tight']],
    );
  });

  it('a failure after response metadata arrived: no retry, and the details say why', async () => {
    reset(1, grpc.status.UNAVAILABLE, true);
    const err = await unary(client('api'), ECHO.Unary.path, {}).catch((e: unknown) => e);
    assert.equal(statusOf(err), grpc.status.UNAVAILABLE);
    assert.equal((err as grpc.ServiceError).details, 'failing on purpose (not retried: the answer had begun)');
    assert.equal(tries, 1);
    assert.deepEqual(retries, []);
  });

  it('a connection lost after the answer began (headers, no trailers): no retry, and the details say why', async () => {
    // A server that starts a gRPC answer and dies before its trailers, as an instance SIGKILLed between the two.
    const raw = http2.createServer();
    const sockets = new Set<Socket>();
    raw.on('connection', (socket: Socket) => sockets.add(socket));
    let requests = 0;
    raw.on('stream', (stream) => {
      requests++;
      stream.respond({ ':status': 200, 'content-type': 'application/grpc' });
      // The first bytes of a 10-byte message, then the connection is gone once they are on their way.
      stream.write(Buffer.from([0, 0, 0, 0, 10, 1, 2]), () => {
        for (const s of sockets) s.destroy();
      });
    });
    await new Promise<void>((resolve) => raw.listen(0, '127.0.0.1', resolve));
    reset(0);
    try {
      const c = new grpc.Client(`127.0.0.1:${(raw.address() as AddressInfo).port}`, grpc.credentials.createInsecure(), {
        interceptors: clientInterceptors(mesh.adapterHost(), { namespace: 'default', service: 'api' }),
      });
      clients.push(c);
      const err = (await unary(c, ECHO.Unary.path, {}, { deadline: Date.now() + 20_000 }).catch((e: unknown) => e)) as grpc.ServiceError;
      assert.equal(err.code, grpc.status.UNAVAILABLE);
      assert.match(err.details, /\(not retried: the answer had begun\)$/);
      assert.equal(requests, 1);
      assert.deepEqual(retries, []);
    } finally {
      raw.close();
    }
  });

  it('a status not in retry.on: one try; one that is: retried', async () => {
    reset(1, grpc.status.INTERNAL);
    const err = await unary(client('api'), ECHO.Unary.path, {}).catch((e: unknown) => e);
    assert.equal(statusOf(err), grpc.status.INTERNAL);
    assert.equal(tries, 1);
    reset(1, grpc.status.RESOURCE_EXHAUSTED);
    const res = await unary(client('api', { on: ['UNAVAILABLE', 'RESOURCE_EXHAUSTED'] }), ECHO.Unary.path, {});
    assert.equal(res.tries, 2);
    assert.throws(() => client('api', { on: ['NOT_A_STATUS'] }), /HYPHAE_ERR_INVALID_OPTIONS|not a gRPC status name/);
  });

  it('server streaming: retried before the first response, every message then delivered once', async () => {
    reset(1);
    const got = await serverStream(client('api'), ECHO.ServerStream.path, { s: 1 });
    assert.deepEqual(
      got.map((m) => m.i),
      [0, 1, 2],
    );
    assert.equal(tries, 2);
  });

  it('client streaming: never retried', async () => {
    reset(1);
    const c = client('api');
    const err = await new Promise<unknown>((resolve) => {
      const call = c.makeClientStreamRequest(
        ECHO.ClientStream.path,
        ECHO.ClientStream.requestSerialize,
        ECHO.ClientStream.responseDeserialize,
        new grpc.Metadata(),
        {},
        (e: grpc.ServiceError | null) => resolve(e),
      );
      call.write({ a: 1 });
      call.write({ a: 2 });
      call.end();
    });
    assert.equal(statusOf(err), grpc.status.UNAVAILABLE);
    assert.equal(tries, 1);
    assert.deepEqual(retries, []);
  });

  it('the deadline bounds the retries: a backoff that would end past it is not waited', async () => {
    const c = client('slow');
    reset(10);
    const started = Date.now();
    const err = await unary(c, ECHO.Unary.path, {}, { deadline: Date.now() + 300 }).catch((e: unknown) => e);
    // Full jitter may draw a short backoff: then the next tries are bounded by the deadline all the same.
    assert.ok([grpc.status.UNAVAILABLE, grpc.status.DEADLINE_EXCEEDED].includes(statusOf(err)!), String(err));
    assert.ok(Date.now() - started < 2000, 'the call ended at its deadline, not after a 5 s backoff');
    assert.ok(retries.some((e) => e.decision === 'deadline') || statusOf(err) === grpc.status.DEADLINE_EXCEEDED, JSON.stringify(retries));
  });
});
