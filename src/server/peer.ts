/**
 * The verified identity of the peer on a connection. It is set by the mTLS
 * front from the peer's certificate, never from a request header, and read
 * by the application with getPeer(req) and by the authorization layer.
 */
import type http from 'node:http';
import type { Http2ServerRequest, ServerHttp2Stream } from 'node:http2';
import type { Socket } from 'node:net';
import type { CertifiedIdentity } from '../tls/peer-certificate.js';

/**
 * `cluster`: the cluster whose control plane issued the caller's certificate (issue 17), undefined
 * for a certificate from a CA older than clusters; as verified as the SPIFFE ID (src/tls/cluster-stamp.ts).
 */
export type PeerIdentity = CertifiedIdentity;

/**
 * Kept on the socket under a symbol nothing outside this module holds (so nothing on the wire or in the
 * application can set it). A property rather than a WeakMap entry because an HTTP/2 request's `socket`
 * is a Proxy of its stream that forwards property reads to the session's socket: a property is found
 * through it, a WeakMap keyed by the real socket is not.
 */
const kPeer = Symbol('hyphae.peer');

type WithPeer = { [kPeer]?: PeerIdentity };

/** Called by the TLS front once the peer's certificate has been verified. */
export function setPeer(socket: Socket, peer: PeerIdentity): void {
  (socket as WithPeer)[kPeer] = peer;
}

/**
 * The caller's verified SPIFFE identity and cluster; undefined for a plaintext (PERMISSIVE/DISABLE)
 * connection. Takes an HTTP/1.1 or HTTP/2 compat request, or an HTTP/2 stream of the core API.
 */
export function getPeer(req: http.IncomingMessage | Http2ServerRequest | ServerHttp2Stream): PeerIdentity | undefined {
  const socket = (req as { socket?: unknown }).socket ?? (req as ServerHttp2Stream).session?.socket;
  return (socket as WithPeer | null | undefined)?.[kPeer];
}

/**
 * Request headers that carry identity or mesh-internal state: stripped from
 * every incoming request, since nothing on the wire may claim an identity.
 */
export const IDENTITY_HEADERS: readonly string[] = ['x-forwarded-client-cert', 'x-hyphae-peer', 'x-hyphae-peer-identity', 'x-hyphae-internal'];
