/**
 * hyphae/grpc (issue 18): @grpc/grpc-js clients and servers in the mesh, on the same discovery, balancing,
 * outlier detection, identity, policies and telemetry as HTTP. grpc-js is an optional peer dependency: only
 * this entry point loads it.
 */
export { parseRpcMethod, type RpcMethod } from './method.js';
export { WorkloadCertificateProvider } from './certificates.js';
export type { GrpcRetryOptions } from './retry.js';
export { clientInterceptors } from './client-interceptors.js';
export { meshGrpcServerOptions } from './server-options.js';
export { getGrpcPeer, type PeerIdentity } from './peer.js';
export { meshGrpcClient, type MeshGrpcClient, type MeshGrpcClientOptions } from './client.js';
export { serveGrpc, type ServeGrpcOptions } from './serve.js';
