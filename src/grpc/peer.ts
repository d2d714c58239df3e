/**
 * The caller of a gRPC call: the SPIFFE identity of its verified client
 * certificate (the TLS connection's, read from grpc-js's auth context), kept
 * on the call's metadata object under a symbol nothing on the wire can set.
 * Handlers read it with getGrpcPeer(call), as HTTP handlers use getPeer(req).
 */
import { X509Certificate } from 'node:crypto';
import type { PeerCertificate } from 'node:tls';
import type { Metadata } from '@grpc/grpc-js';
import type { PeerIdentity } from '../server/peer.js';
import { checkPeerCertificate, type PeerCheck } from '../tls/peer-certificate.js';

export type { PeerIdentity } from '../server/peer.js';

const kPeer = Symbol('hyphae.grpc.peer');
type WithPeer = Metadata & { [kPeer]?: PeerIdentity };

/** @internal The server interceptor, once the certificate was checked. */
export function setGrpcPeer(metadata: Metadata, peer: PeerIdentity): void {
  (metadata as WithPeer)[kPeer] = peer;
}

/**
 * The caller's verified identity in a handler (any of grpc-js's server call objects: they carry the
 * request metadata); undefined on a plaintext connection or outside a meshed server.
 */
export function getGrpcPeer(call: { metadata: Metadata }): PeerIdentity | undefined {
  return (call.metadata as WithPeer | undefined)?.[kPeer];
}

interface Checked {
  check: PeerCheck;
  /** Epoch ms after which the answer must be made again (the certificate's end of validity). */
  until: number;
}

/**
 * Answers by certificate fingerprint: a client's calls share its connection and certificate, so the
 * X.509 parse and checks run once per certificate, not per call. Only accepted certificates are kept
 * (a refusal is rare, and one for "not valid yet" must not outlive the reason). Bounded: a full cache is emptied.
 */
const checked = new Map<string, Checked>();
const MAX_CHECKED = 1024;

/** Whether a peer's certificate (as grpc-js's auth context hands it) is a workload of `trustDomain`. */
export function checkGrpcPeer(cert: PeerCertificate, trustDomain: string, now = Date.now()): PeerCheck {
  const key = `${trustDomain} ${cert.fingerprint256}`;
  const hit = checked.get(key);
  if (hit !== undefined && now <= hit.until) return hit.check;
  let x509: X509Certificate;
  try {
    x509 = new X509Certificate(cert.raw);
  } catch (err) {
    return { ok: false, problem: `the certificate cannot be read: ${(err as Error).message}` };
  }
  const check = checkPeerCertificate(x509, 'client', trustDomain, now);
  if (!check.ok) return check;
  if (checked.size >= MAX_CHECKED) checked.clear();
  checked.set(key, { check, until: Date.parse(x509.validTo) });
  return check;
}
