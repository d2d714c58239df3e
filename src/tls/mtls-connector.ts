/**
 * The client side of mTLS: an undici connector that, for each new connection
 * to a destination whose servers take mTLS (STRICT or PERMISSIVE), presents
 * the workload's certificate, verifies the chain against the trust bundle and
 * requires the server's SPIFFE ID to be the destination's. Node's default
 * checkServerIdentity only looks at DNS and IP SANs, so it is replaced.
 *
 * The secure context is read per connection: after a rotation new connections
 * use the new certificate while open ones (and the calls on them) carry on.
 *
 * A new connection to an instance this context has verified resumes its TLS
 * session (session-cache.ts says what a resumed connection proves and why the
 * identity check is carried by the cache's key).
 *
 * SNI: none by default (an instance is dialled by address). A pool whose endpoint sits in another
 * cluster connects through `withServername(connector, meshSni(...))` (client/endpoint/servername.ts, issue 17),
 * which sets `opts.servername`: the name a mesh gateway
 * routes by. The identity check is the same either way: the server must be the destination's service.
 */
import { X509Certificate } from 'node:crypto';
import { connect as tlsConnect, type PeerCertificate, type TLSSocket } from 'node:tls';
import { buildConnector } from 'undici';
import { ErrorCode, MeshError } from '../core/errors.js';
import { checkPeerCertificate } from './peer-certificate.js';
import { sessionKey } from './session-cache.js';
import type { WorkloadTls } from './workload-tls.js';

/** PeerAuthentication modes, as the tls layer sees them (src/config owns the schema). */
export type MtlsMode = 'STRICT' | 'PERMISSIVE' | 'DISABLE';

export interface MtlsConnectorOptions {
  tls: WorkloadTls;
  namespace: string;
  service: string;
  /** The destination's current mode; null when the mesh has no CA. Read per new connection. */
  mode: () => MtlsMode | null;
  connectTimeoutMs?: number;
}

/** Connect options as an endpoint pool passes them: the ALPN list it wants offered, when not HTTP/1.1 alone. */
type AlpnOptions = buildConnector.Options & { alpnProtocols?: string[] };
const HTTP1_ONLY = ['http/1.1'];

export function mtlsConnector(options: MtlsConnectorOptions): buildConnector.connector {
  const { tls, namespace, service } = options;
  const sessions = tls.sessions;
  const timeoutMs = options.connectTimeoutMs ?? 10_000;
  const plain = buildConnector({ timeout: timeoutMs });
  return (opts, callback) => {
    const mode = options.mode();
    if (mode !== 'STRICT' && mode !== 'PERMISSIVE') return plain(opts, callback);
    const endpoint = `${opts.hostname}:${opts.port}`;
    const context = tls.clientContext();
    if (!context) {
      callback(
        new MeshError(ErrorCode.NO_CERTIFICATE, `no valid workload certificate to call ${service} over mTLS (not obtained yet, or expired while the CA was unreachable)`, {
          rejected: true,
          details: { service, endpoint },
        }),
        null,
      );
      return;
    }
    const expected = tls.expectedId(namespace, service);
    const alpn = (opts as AlpnOptions).alpnProtocols ?? HTTP1_ONLY;
    const key = sessionKey(expected, opts.hostname, opts.port, opts.servername, alpn);
    const offered = sessions.get(context, key);
    let identityError: MeshError | undefined;
    /** The verified server certificate's end of validity (a full handshake only: a resumed one shows none). */
    let notAfter: number | undefined;
    let done = false;
    const socket: TLSSocket = tlsConnect({
      host: opts.hostname,
      port: Number(opts.port),
      secureContext: context,
      rejectUnauthorized: true,
      // undici passes a servername only for https: origins (never ours): this one is endpointConnector's.
      ...(opts.servername ? { servername: opts.servername } : {}),
      // HTTP/2 when the endpoint's pool offers it (client/endpoint/pool.ts); HTTP/1.1 alone otherwise.
      ALPNProtocols: alpn,
      ...(offered ? { session: offered } : {}),
      checkServerIdentity: (_host: string, cert: PeerCertificate) => {
        identityError = identityProblem(cert, expected, tls.trustDomain, service, endpoint);
        if (!identityError) notAfter = Date.parse(cert.valid_to);
        return identityError;
      },
    });
    // Node emits 'session' only once the server is verified (it holds an earlier one until then). A resumed
    // connection's tickets are not filed (notAfter stays unknown): the first one's lifetime bounds them.
    socket.on('session', (session: Buffer) => {
      if (notAfter !== undefined) sessions.set(context, key, session, notAfter);
    });
    socket.setNoDelay(true);
    socket.setKeepAlive(true, 60_000);
    const timer = setTimeout(
      () =>
        fail(
          new MeshError(ErrorCode.CONNECT_FAILED, `TLS connection to ${service} endpoint ${endpoint} timed out after ${timeoutMs} ms`, {
            retryable: true,
            rejected: true,
            details: { service, endpoint },
          }),
        ),
      timeoutMs,
    );
    const fail = (err: Error) => {
      if (done) return;
      done = true;
      if (offered) sessions.drop(context, key);
      clearTimeout(timer);
      socket.destroy();
      callback(err, null);
    };
    socket.once('secureConnect', () => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      socket.off('error', onError);
      tls.clientHandshakes++;
      if (socket.isSessionReused()) tls.clientResumptions++;
      callback(null, socket);
    });
    const onError = (err: NodeJS.ErrnoException) => fail(identityError ?? classify(err, service, endpoint));
    socket.once('error', onError);
    return socket;
  };
}

/**
 * Why the server's certificate on a connection to `service` is refused (undefined: it is the workload `expected`):
 * the check every mTLS client of the mesh makes, HTTP here and gRPC (src/grpc/channel-credentials.ts).
 */
export function identityProblem(cert: PeerCertificate, expected: string, trustDomain: string, service: string, endpoint: string): MeshError | undefined {
  let x509: X509Certificate;
  try {
    x509 = new X509Certificate(cert.raw);
  } catch (err) {
    return handshakeError(`the server's certificate cannot be parsed: ${(err as Error).message}`, service, endpoint, err);
  }
  const check = checkPeerCertificate(x509, 'server', trustDomain);
  if (!check.ok) return handshakeError(`the server's certificate is not a valid workload certificate: ${check.problem}`, service, endpoint);
  if (check.identity.id !== expected) {
    return new MeshError(ErrorCode.PEER_IDENTITY_MISMATCH, `endpoint ${endpoint} of ${service} presented ${check.identity.id}, expected ${expected}`, {
      retryable: true,
      rejected: true,
      details: { service, endpoint, expected, actual: check.identity.id },
    });
  }
  return undefined;
}

/** Socket-level failures: passed on as they are, so the classifier reports them as connect failures or resets. */
const SOCKET_CODES = new Set(['ECONNREFUSED', 'ECONNRESET', 'EPIPE', 'EHOSTUNREACH', 'ENETUNREACH', 'EADDRNOTAVAIL', 'ETIMEDOUT']);

/** Anything else (certificate verification, protocol, alerts from the server) is a failed handshake. */
function classify(err: NodeJS.ErrnoException, service: string, endpoint: string): Error {
  if (err instanceof MeshError || SOCKET_CODES.has(err.code ?? '')) return err;
  return handshakeError(`mTLS handshake with ${service} endpoint ${endpoint} failed: ${err.message}`, service, endpoint, err);
}

function handshakeError(message: string, service: string, endpoint: string, cause?: unknown): MeshError {
  // Another endpoint may hold a good certificate; nothing was sent.
  return new MeshError(ErrorCode.TLS_HANDSHAKE_FAILED, message, { cause, retryable: true, rejected: true, details: { service, endpoint } });
}
