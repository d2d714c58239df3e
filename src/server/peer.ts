/**
 * The verified identity of the peer on a connection. It is set by the mTLS
 * front from the peer's certificate, never from a request header, and read
 * by the application with getPeer(req) and by the authorization layer.
 */
import type http from 'node:http';
import type { Socket } from 'node:net';
import type { CertifiedIdentity } from '../tls/peer-certificate.js';

/**
 * `cluster`: the cluster whose control plane issued the caller's certificate (issue 17), undefined
 * for a certificate from a CA older than clusters; as verified as the SPIFFE ID (src/tls/cluster-stamp.ts).
 */
export type PeerIdentity = CertifiedIdentity;

const peers = new WeakMap<Socket, PeerIdentity>();

/** Called by the TLS front once the peer's certificate has been verified. */
export function setPeer(socket: Socket, peer: PeerIdentity): void {
  peers.set(socket, peer);
}

/** The caller's verified SPIFFE identity and cluster; undefined for a plaintext (PERMISSIVE/DISABLE) connection. */
export function getPeer(req: http.IncomingMessage): PeerIdentity | undefined {
  return peers.get(req.socket);
}

/**
 * Request headers that carry identity or mesh-internal state: stripped from
 * every incoming request, since nothing on the wire may claim an identity.
 */
export const IDENTITY_HEADERS: readonly string[] = ['x-forwarded-client-cert', 'x-hyphae-peer', 'x-hyphae-peer-identity', 'x-hyphae-internal'];
