/**
 * serveGrpc's listener: a net.Server of ours, not grpc-js's bindAsync, so
 * that a gRPC port is guarded as a wrapped HTTP server's is (DESIGN, "Every
 * listener we open") and by the same code: a connection cap, which grpc-js's
 * own listener has none of, and the mTLS front's handshake deadline counted
 * from accept (server/connection-gate.ts).
 *
 * Each accepted socket goes through the same gate as a wrapped server's:
 * with mTLS it must finish a TLS handshake (ALPN h2) with a client
 * certificate of the mesh within the deadline, and only then is it given to
 * grpc-js, through its public connection injector made with insecure
 * credentials (the TLS is ours already). grpc-js still sees a TLSSocket,
 * so `call.getAuthContext()` gives the peer certificate the server
 * interceptor checks. The mode is always STRICT: grpc-js cannot serve TLS
 * and plaintext on one port, and a mesh with mTLS keeps that rule. Without
 * mTLS the port speaks h2c only, through the same gate (its deadline runs
 * to the end of the HTTP/2 preface) and the same cap.
 */
import net from 'node:net';
import type { TLSSocket } from 'node:tls';
import { ServerCredentials, type Server } from '@grpc/grpc-js';
import { ErrorCode, MeshError } from '../core/errors.js';
import type { Logger } from '../core/logger.js';
import type { AdapterHost } from '../mesh/adapter-host.js';
import { hasMtls } from '../mesh/start.js';
import { ConnectionGate, type InboundTls } from '../server/connection-gate.js';
import { capListener, type ConnectionLimits } from '../server/listener-limits.js';
import { trackFrontStats } from '../server/mtls-front.js';

export interface GrpcListener {
  readonly port: number;
  /** Stop accepting, and destroy the connections not yet given to grpc-js; those it has are its shutdown's. */
  close(): void;
}

/** A port without mTLS: plaintext only (a ClientHello is refused: there is no certificate to answer it). */
const PLAINTEXT: InboundTls = { mode: () => 'DISABLE', material: () => undefined, onChange: () => () => undefined };

/** The mesh's inbound TLS, always STRICT for a gRPC port. */
function strict(inbound: InboundTls): InboundTls {
  return { mode: () => 'STRICT', material: () => inbound.material(), onChange: (listener) => inbound.onChange(listener) };
}

function inboundOf(host: AdapterHost): () => Promise<InboundTls> {
  if (!hasMtls(host.options)) return () => Promise.resolve(PLAINTEXT);
  return async () => {
    const inbound = (await host.started()).security?.inbound;
    // Fail closed: a mesh that should have mTLS and has none serves nothing rather than plaintext.
    if (!inbound) throw new MeshError(ErrorCode.NO_CERTIFICATE, 'the mesh has no workload certificate for its gRPC port');
    return strict(inbound);
  };
}

export async function listenGrpc(host: AdapterHost, server: Server, address: { host: string; port: number }, limits: ConnectionLimits): Promise<GrpcListener> {
  const logger: Logger = host.logger;
  const injector = server.createConnectionInjector(ServerCredentials.createInsecure());
  let closed = false;
  const gate = new ConnectionGate({
    resolve: inboundOf(host),
    logger,
    handshakeTimeoutMs: limits.tlsHandshakeTimeoutMs,
    alpn: ['h2'],
    plaintext: 'h2c',
    deliver: (socket, secure) => {
      // After close() nothing is given to grpc-js: its shutdown already let go of the sessions it knew.
      if (closed) return socket.destroy();
      // A TLS client that did not ask for h2 would get to Node's 'unknownProtocol' path, and wait there 10 s.
      if (secure && (socket as TLSSocket).alpnProtocol !== 'h2') return gate.refuse(socket, 'TLS without ALPN h2 to a gRPC port');
      injector.injectConnection(socket);
    },
  });
  trackFrontStats(server, gate);
  const tcp = net.createServer((socket) => gate.accept(socket));
  capListener(tcp, limits.maxConnections, logger, 'serveGrpc maxConnections');
  try {
    await new Promise<void>((resolve, reject) => {
      tcp.once('error', reject);
      tcp.listen({ host: address.host, port: address.port }, () => {
        tcp.off('error', reject);
        resolve();
      });
    });
  } catch (err) {
    injector.destroy();
    gate.close();
    throw err;
  }
  // An accept that fails (EMFILE under a cap set above the open-file limit) is told, not thrown out of the process.
  tcp.on('error', (err) => logger.warn('hyphae: the gRPC listener failed to accept a connection', { error: String(err) }));
  gate.prepare();
  return {
    port: (tcp.address() as net.AddressInfo).port,
    close() {
      if (closed) return;
      closed = true;
      tcp.close();
      gate.destroyPending();
      gate.close();
    },
  };
}
