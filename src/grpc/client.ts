/**
 * meshGrpcClient: what a grpc-js client needs to reach a mesh service by
 * name, `new Client(target, credentials, options)`: the `hyphae:` target
 * (resolver.ts), credentials with the SPIFFE check of the service called
 * (channel-credentials.ts), and options that select the mesh LB policy
 * (balancer.ts), name the mesh and carry the client interceptors (deadline,
 * retries, telemetry).
 */
import type { ChannelCredentials, ClientOptions } from '@grpc/grpc-js';
import type { Mesh } from '../mesh/mesh.js';
import { registerMeshBalancer, meshServiceConfig } from './balancer.js';
import { meshChannelCredentials } from './channel-credentials.js';
import { clientInterceptors } from './client-interceptors.js';
import { MESH_OPTION, meshKey, parseServiceTarget, registerMeshResolver, serviceTarget } from './resolver.js';
import type { GrpcRetryOptions } from './retry.js';

export interface MeshGrpcClientOptions {
  /** The service's namespace; default the mesh's own. */
  namespace?: string;
  /** Which gRPC statuses are retried, and how many tries in all (within the destination's retry budget). */
  retry?: GrpcRetryOptions;
}

export interface MeshGrpcClient {
  /** `hyphae:///<service>`, or `hyphae:///<service>.<namespace>` when a namespace was given. */
  target: string;
  credentials: ChannelCredentials;
  options: ClientOptions;
}

/** Throws HYPHAE_ERR_INVALID_OPTIONS for a service or namespace that is not a DNS label, HYPHAE_ERR_MESH_CLOSED on a closed mesh. */
export function meshGrpcClient(mesh: Mesh, service: string, opts: MeshGrpcClientOptions = {}): MeshGrpcClient {
  const t = parseServiceTarget(opts.namespace === undefined ? String(service) : `${String(service)}.${String(opts.namespace)}`);
  const host = mesh.adapterHost();
  registerMeshResolver();
  registerMeshBalancer();
  const namespace = t.namespace ?? host.options.namespace;
  // First: it throws HYPHAE_ERR_MESH_CLOSED on a closed mesh, before anything else is made for it.
  const key = meshKey(host);
  return {
    target: serviceTarget(t),
    credentials: meshChannelCredentials(host, t.service, namespace),
    options: {
      'grpc.service_config': meshServiceConfig(),
      [MESH_OPTION]: key,
      interceptors: clientInterceptors(host, { namespace, service: t.service }, opts.retry),
    },
  };
}
