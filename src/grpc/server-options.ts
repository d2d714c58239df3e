/**
 * `new grpc.Server(meshGrpcServerOptions(mesh))`: a grpc-js server whose
 * calls go through the mesh's server interceptor (server-interceptors.ts):
 * peer check, authorization, deadline intake, telemetry.
 */
import type { ServerOptions } from '@grpc/grpc-js';
import type { Mesh } from '../mesh/mesh.js';
import { meshServerInterceptor } from './server-interceptors.js';
import { ServerPolicy } from './server-policy.js';

export function meshGrpcServerOptions(mesh: Mesh, options: ServerOptions = {}): ServerOptions {
  const policy = new ServerPolicy(mesh.adapterHost());
  // The mesh's interceptor first (outermost): a call it refuses reaches none of the application's.
  return { ...options, interceptors: [meshServerInterceptor(policy), ...(options.interceptors ?? [])] };
}
