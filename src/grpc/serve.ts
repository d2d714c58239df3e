/**
 * serveGrpc: a grpc-js server joins the mesh. It listens on a port of ours
 * (listener.ts: the mesh's mTLS front, handshake deadline and connection cap,
 * then grpc-js's connection injector), registers the instance with the
 * control plane as wrapServer registers an HTTP server (labels, weight,
 * advertised address), and drains in mesh.close() (drain.ts). With mTLS the
 * server is STRICT: a client certificate from the mesh's CA is required on
 * every connection, whatever the service's PeerAuthentication says, since
 * grpc-js cannot serve TLS and plaintext on one port. The caller's identity
 * and authorization are the server interceptors' (meshGrpcServerOptions).
 *
 * The server's own tryShutdown / forceShutdown deregister first too: a server
 * the application stops leaves the registry before its port closes.
 */
import type { Server } from '@grpc/grpc-js';
import { labelsSchema } from '../config/labels.js';
import { parseOrThrow } from '../config/validate.js';
import { ErrorCode, MeshError } from '../core/errors.js';
import { checkNonNegative } from '../core/number-options.js';
import type { Mesh } from '../mesh/mesh.js';
import { advertiseAddress } from '../server/advertise-address.js';
import type { RegisteredInstance } from '../server/registrar.js';
import { resolveConnectionLimits } from '../server/listener-limits.js';
import { grpcDrainer } from './drain.js';
import { listenGrpc, type GrpcListener } from './listener.js';
import { carriesMeshInterceptor } from './server-interceptors.js';

export interface ServeGrpcOptions {
  /** Address to bind; default 0.0.0.0 (every interface), as for a server that listens without a host. */
  host?: string;
  /** Port to bind; 0 (default) picks a free one. */
  port?: number;
  /** Labels of this instance (version, zone...), merged over the mesh's. */
  labels?: Record<string, string>;
  weight?: number;
  /** The address other processes dial, when the bound one is not it (a wildcard, NAT). */
  advertiseAddress?: string;
  /** false: serve without registering. */
  register?: boolean;
  /** Connections open at once; more are closed at accept. Default: the mesh's `server.maxConnections`, else wrapServer's default. 0: no cap. */
  maxConnections?: number;
  /** From accept to the end of the TLS handshake (without mTLS: to the HTTP/2 preface). Default: the mesh's `server.tlsHandshakeTimeoutMs`, else 5 s. 0: none. */
  tlsHandshakeTimeoutMs?: number;
}

const LIMIT_OPTIONS = ['maxConnections', 'tlsHandshakeTimeoutMs'] as const;

export async function serveGrpc(mesh: Mesh, server: Server, opts: ServeGrpcOptions = {}): Promise<{ port: number }> {
  const host = mesh.adapterHost();
  const o = host.options;
  const labels = parseOrThrow(labelsSchema, { ...o.labels, ...opts.labels }, "serveGrpc labels (the mesh's merged with the server's)", ErrorCode.INVALID_OPTIONS);
  const weight = opts.weight ?? 1;
  if (!Number.isInteger(weight) || weight < 1 || weight > 1000) throw new MeshError(ErrorCode.INVALID_OPTIONS, `serveGrpc weight must be an integer from 1 to 1000, got ${weight}`);
  checkNonNegative('serveGrpc', opts, LIMIT_OPTIONS, true);
  const limits = resolveConnectionLimits(opts, o.server);
  const bindHost = opts.host ?? '0.0.0.0';
  // Fail closed: a server made without the mesh's interceptor would serve every caller with a certificate,
  // AuthorizationPolicies unread. grpc-js keeps a server's interceptors in a field it does not type as public;
  // should it move, every server is refused here, loudly, rather than served unchecked.
  if (!carriesMeshInterceptor((server as unknown as { interceptors?: unknown }).interceptors, host)) {
    throw new MeshError(
      ErrorCode.INVALID_OPTIONS,
      "serveGrpc: the server does not carry this mesh's interceptor, so its calls would skip the caller check and authorization; make it with new grpc.Server(meshGrpcServerOptions(mesh))",
    );
  }
  const runtime = await host.started();
  let registration: Promise<RegisteredInstance | undefined> = Promise.resolve(undefined);
  const registering = new AbortController();
  const deregister = async () => {
    registering.abort();
    const current = await registration.catch(() => undefined);
    await current?.deregister();
  };
  const shutdown = { tryShutdown: server.tryShutdown, forceShutdown: server.forceShutdown };
  // grpc-js's shutdown knows nothing of our port, so each one closes it first (once it listens, if a drain
  // began while it was being bound).
  let listener: GrpcListener | undefined;
  let portClosed = false;
  const closePort = () => {
    portClosed = true;
    listener?.close();
  };
  const drainer = grpcDrainer(server, shutdown, closePort, { drainDelayMs: o.server.drainDelayMs, gracePeriodMs: o.server.gracePeriodMs }, deregister, host.logger);
  // Before listening: on a closed mesh this throws HYPHAE_ERR_MESH_CLOSED and nothing was bound.
  const dispose = host.onClose(() => drainer.drain());
  try {
    listener = await listenGrpc(host, server, { host: bindHost, port: opts.port ?? 0 }, limits);
  } catch (err) {
    dispose();
    throw err;
  }
  if (portClosed) listener.close();
  const port = listener.port;
  // The application stopping the server: out of the registry first (and out of the mesh's close()).
  server.tryShutdown = (callback) => {
    dispose();
    drainer.drain().then(
      () => callback(),
      (err: unknown) => callback(err as Error),
    );
  };
  server.forceShutdown = () => {
    dispose();
    void deregister().catch(() => undefined);
    closePort();
    shutdown.forceShutdown.call(server);
  };
  // grpc-js's start() (deprecated, a no-op since 1.10) throws when none of the server's HTTP/2 servers listens,
  // and the one it has here never does: the port is ours. Code written for older grpc-js still calls it.
  server.start = () => undefined;

  const registrar = opts.register === false ? undefined : runtime.registrar;
  if (registrar) {
    registration = registrar.register({ address: advertiseAddress(bindHost, opts.advertiseAddress ?? o.server.advertiseAddress), port, labels, weight }, registering.signal);
    await registration;
  } else if (opts.register !== false) {
    host.logger.warn('hyphae: no control plane configured; the gRPC server is not registered');
  }
  return { port };
}
