/**
 * A grpc-js `api` instance in the mesh (issue 18), run as a child process by
 * test/integration/grpc-mesh.test.ts: joined with serveGrpc and the mesh's
 * server interceptors. Every answer says which instance answered, who called
 * (getGrpcPeer) and the deadline the handler saw; Chain calls the HTTP service
 * `leaf` through the mesh inside the gRPC call's deadline. Prints
 * `ready service=api instance=<id>`.
 */
import * as grpc from '@grpc/grpc-js';
import { createMesh, getRemainingMs, meshOptionsFromEnv } from '../../src/index.js';
import { getGrpcPeer, meshGrpcServerOptions, serveGrpc } from '../../src/grpc/index.js';
import { ECHO, method, type Msg } from './grpc-echo.js';

const CHAIN = method('/test.Echo/Chain');

const mesh = await createMesh({ ...meshOptionsFromEnv(), service: 'api' });
mesh.handleSignals();
let instance = '?';

type Call = grpc.ServerUnaryCall<Msg, Msg> | grpc.ServerWritableStream<Msg, Msg>;
const reply = (call: Call, extra: Msg = {}): Msg => ({ instance, peer: getGrpcPeer(call)?.id ?? null, remainingMs: getRemainingMs() ?? null, ...extra });

const server = new grpc.Server(meshGrpcServerOptions(mesh));
server.addService(
  { Unary: ECHO.Unary, Admin: ECHO.Admin, ServerStream: ECHO.ServerStream, Chain: CHAIN },
  {
    Unary: (call: grpc.ServerUnaryCall<Msg, Msg>, done: grpc.sendUnaryData<Msg>) => done(null, reply(call)),
    Admin: (call: grpc.ServerUnaryCall<Msg, Msg>, done: grpc.sendUnaryData<Msg>) => done(null, reply(call)),
    ServerStream: (call: grpc.ServerWritableStream<Msg, Msg>) => {
      for (let seq = 0; seq < Number(call.request.n ?? 1); seq++) call.write(reply(call, { seq }));
      call.end();
    },
    Chain: (call: grpc.ServerUnaryCall<Msg, Msg>, done: grpc.sendUnaryData<Msg>) => {
      mesh.request('http://leaf/slow').then(
        async (res) => done(null, reply(call, { downstream: `${res.statusCode} ${await res.body.text()}` })),
        (err: unknown) => done({ code: grpc.status.DEADLINE_EXCEEDED, details: `leaf: ${String(err)}` }),
      );
    },
  },
);
const { port } = await serveGrpc(mesh, server, { host: '127.0.0.1', port: 0 });
instance = `127.0.0.1:${port}`;
console.log(`ready service=api instance=${instance}`);
