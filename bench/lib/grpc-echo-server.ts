/**
 * The server of the gRPC bench (bench/grpc.ts), in its own process: a grpc-js server joined to the mesh
 * as service `bench-grpc` (meshGrpcServerOptions' interceptors, serveGrpc's mTLS from the workload's SVID,
 * registration). Both of the bench's clients call this one server: the plain one by its address, the
 * meshed one by name. Configured by HYPHAE_* variables; prints `listening PORT`.
 */
import * as grpc from '@grpc/grpc-js';
import { createMesh, meshOptionsFromEnv } from '../../src/index.js';
import { meshGrpcServerOptions, serveGrpc } from '../../src/grpc/index.js';
import { ECHO_SERVICE, echoHandlers } from './grpc-echo-service.js';

const mesh = await createMesh({ ...meshOptionsFromEnv(), server: { drainDelayMs: 0, gracePeriodMs: 1_000 } });
const server = new grpc.Server(meshGrpcServerOptions(mesh));
server.addService(ECHO_SERVICE, echoHandlers);
const { port } = await serveGrpc(mesh, server, { host: '127.0.0.1', port: 0 });
console.log(`listening ${port}`);
process.on('SIGTERM', () => process.exit(0));
