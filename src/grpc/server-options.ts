/**
 * `new grpc.Server(meshGrpcServerOptions(mesh))`: a grpc-js server whose
 * calls go through the mesh's server interceptor (server-interceptors.ts):
 * peer check, authorization, deadline intake, telemetry.
 */
import type { ServerOptions } from '@grpc/grpc-js';
import type { Mesh } from '../mesh/mesh.js';
import { DEFAULT_MAX_CONCURRENT_STREAMS } from '../server/h2-sessions.js';
import { DEFAULT_KEEP_ALIVE_TIMEOUT_MS } from '../server/listener-limits.js';
import { meshServerInterceptor } from './server-interceptors.js';
import { ServerPolicy } from './server-policy.js';

export function meshGrpcServerOptions(mesh: Mesh, options: ServerOptions = {}): ServerOptions {
  const policy = new ServerPolicy(mesh.adapterHost());
  return {
    // A connection with no call for this long is told GOAWAY (grpc-js's default is never): a peer that connects
    // and says nothing does not hold it for ever, and the mesh's clients reconnect at once when they need it.
    // The wrapped HTTP servers' keep-alive timeout.
    'grpc.max_connection_idle_ms': DEFAULT_KEEP_ALIVE_TIMEOUT_MS,
    // Streams a connection may have open at once, as the mesh's HTTP/2 servers allow (grpc-js advertises no limit,
    // so one connection could open as many as it liked); a client's calls past it wait for a stream to end.
    'grpc.max_concurrent_streams': DEFAULT_MAX_CONCURRENT_STREAMS,
    ...options,
    // The mesh's interceptor first (outermost): a call it refuses reaches none of the application's.
    interceptors: [meshServerInterceptor(policy), ...(options.interceptors ?? [])],
  };
}
