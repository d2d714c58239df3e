/**
 * The etcd v3 client (the `etcd3` package: gRPC, maintained by Microsoft,
 * runs on Node 20 and speaks to etcd 3.4 and later), configured for a
 * control plane: every unary call has a deadline, a failed endpoint is
 * skipped for a second (circuit breaker per endpoint) and the call is retried
 * on another one, so a dead member costs one fast failure, not a timeout.
 */
import { ConsecutiveBreaker, ExponentialBackoff, circuitBreaker, handleWhen, retry } from 'cockatiel';
import { Etcd3, isRecoverableError, type IOptions } from 'etcd3';
import { ErrorCode, MeshError } from '../../core/errors.js';
import type { ResolvedEtcdOptions } from './etcd-options.js';

/** What the TLS and auth options point at, read once at start (./backend.ts). */
export interface EtcdCredentials {
  rootCertificate?: Buffer;
  certChain?: Buffer;
  privateKey?: Buffer;
}

/** The etcd3 options for TLS and password auth; exported so that a test can check the plumbing without etcd. */
export function securityOptions(options: ResolvedEtcdOptions, files: EtcdCredentials): Pick<IOptions, 'credentials' | 'auth'> {
  const tls = files.rootCertificate !== undefined || files.certChain !== undefined;
  return {
    // etcd3 turns https:// endpoints into TLS with the system's roots by itself; these pin etcd's CA and add a client certificate.
    ...(tls && {
      credentials: {
        // An empty root list would mean "trust nothing"; undefined means the system's roots.
        rootCertificate: files.rootCertificate as Buffer,
        ...(files.certChain && { certChain: files.certChain }),
        ...(files.privateKey && { privateKey: files.privateKey }),
      },
    }),
    ...(options.username !== undefined && { auth: { username: options.username, password: options.password! } }),
  };
}

export function connectEtcd(options: ResolvedEtcdOptions, files: EtcdCredentials = {}): Etcd3 {
  return new Etcd3({
    hosts: options.endpoints,
    ...securityOptions(options, files),
    dialTimeout: options.requestTimeoutMs,
    // Streams (watch, lease keep-alive) live for as long as the connection; only unary calls get a deadline.
    defaultCallOptions: (ctx) => (ctx.isStream ? {} : { deadline: Date.now() + options.requestTimeoutMs }),
    grpcOptions: {
      // A member that vanishes without closing the connection (a partition, a frozen VM) is noticed in ~15 s
      // instead of the kernel's TCP timeout; a killed process is noticed at once (RST).
      'grpc.keepalive_time_ms': 10_000,
      'grpc.keepalive_timeout_ms': 5_000,
      'grpc.keepalive_permit_without_calls': 1,
      // etcd answers a full range of the registry in pages (see etcd-state.ts); this is headroom, not the plan.
      'grpc.max_receive_message_length': 64 * 1024 * 1024,
    },
    faultHandling: {
      host: () => circuitBreaker(handleWhen(isRecoverableError), { halfOpenAfter: 1_000, breaker: new ConsecutiveBreaker(2) }),
      global: retry(handleWhen(isRecoverableError), {
        maxAttempts: Math.max(2, options.endpoints.length),
        backoff: new ExponentialBackoff({ initialDelay: 50, maxDelay: 500 }),
      }),
    },
  });
}

/** Any failure to talk to etcd, as the error the API answers 503 with. */
export function storeUnavailable(what: string, err: unknown, endpoints: readonly string[]): MeshError {
  if (err instanceof MeshError) return err;
  const why = err instanceof Error ? err.message : String(err);
  return new MeshError(ErrorCode.STORE_UNAVAILABLE, `etcd (${endpoints.join(', ')}) did not take the ${what}: ${why}`, {
    cause: err,
    retryable: true,
  });
}
