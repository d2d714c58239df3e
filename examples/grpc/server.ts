/**
 * The `greeter` gRPC service: a grpc-js server that joins the mesh. `meshGrpcServerOptions` gives it the
 * mesh's interceptors (the caller's SPIFFE identity checked, AuthorizationPolicy on the method path,
 * deadline intake, telemetry); `serveGrpc` binds it with mTLS from the workload's SVID, registers the
 * instance and drains it on mesh.close() (SIGTERM with handleSignals). Each answer says which instance
 * answered, who called (`getGrpcPeer(call)`, from the caller's certificate) and how long the call had left.
 *
 *   HYPHAE_CONTROL_PLANE=https://127.0.0.1:15010 HYPHAE_SERVICE=greeter HYPHAE_TOKEN=<join token for greeter> \
 *   HYPHAE_CA_FILE=.hyphae/ca-bundle.pem node build/examples/grpc/server.js
 */
import * as grpc from '@grpc/grpc-js';
import { createMesh, meshOptionsFromEnv } from 'hyphae';
import { getGrpcPeer, meshGrpcServerOptions, serveGrpc } from 'hyphae/grpc';
import { greeterService, remainingMs, type GreeterHandlers, type HelloReply, type HelloRequest, type StreamRequest } from './greeter.js';

const fromEnv = meshOptionsFromEnv();
const mesh = await createMesh({ ...fromEnv, service: fromEnv.service ?? 'greeter' });
mesh.handleSignals();

let instance = '?';
const reply = (call: grpc.ServerUnaryCall<HelloRequest, HelloReply> | grpc.ServerWritableStream<StreamRequest, HelloReply>, message: string): HelloReply => ({
  message,
  instance,
  // The identity the mTLS handshake proved, never one the caller wrote in its metadata.
  caller: getGrpcPeer(call)?.id ?? '',
  deadlineMs: remainingMs(call),
});

const handlers: GreeterHandlers = {
  sayHello(call, callback) {
    callback(null, reply(call, `hello ${call.request.name}`));
  },
  streamGreetings(call) {
    const count = Math.min(call.request.count || 3, 100);
    for (let i = 1; i <= count; i++) call.write(reply(call, `hello ${call.request.name} (${i} of ${count})`));
    call.end();
  },
};

const server = new grpc.Server(meshGrpcServerOptions(mesh));
server.addService(greeterService, handlers);
const { port } = await serveGrpc(mesh, server, { host: '127.0.0.1', port: Number(process.env.PORT ?? 0) });
instance = `127.0.0.1:${port}`;
console.log(`ready service=${mesh.options.service} instance=${instance}`);
