/**
 * Certificates the CA issues: X.509-SVIDs for workloads (one URI SAN, not a
 * CA, digitalSignature + keyEncipherment, serverAuth + clientAuth) and the
 * control plane's own serving certificate (DNS/IP SANs, serverAuth).
 */
import { isIP } from 'node:net';
import forge from 'node-forge';
import { randomSerial, type Authority } from './authority.js';
import { clusterStamp } from '../../tls/cluster-stamp.js';
import { signNative } from '../../tls/native-sign.js';

/** Clocks disagree a little; a certificate valid from a minute ago is accepted by a peer whose clock is behind. */
export const BACKDATE_MS = 60_000;

export interface IssuedCertificate {
  certificate: string;
  notBefore: Date;
  notAfter: Date;
}

interface LeafSpec {
  publicKeyPem: string;
  /** Absent: no CN in the subject; with no OU either, an empty subject and the SAN extension critical (RFC 5280 4.2.1.6). */
  commonName: string | undefined;
  /** The subject's one OU: a workload certificate's cluster (./cluster-stamp.ts). */
  organizationalUnit?: string;
  ttlMs: number;
  altNames: { type: number; value?: string; ip?: string }[];
  extKeyUsage: { serverAuth?: boolean; clientAuth?: boolean };
  now?: number;
}

function issue(authority: Authority, spec: LeafSpec): IssuedCertificate {
  const now = spec.now ?? Date.now();
  const cert = forge.pki.createCertificate();
  cert.publicKey = forge.pki.publicKeyFromPem(spec.publicKeyPem);
  cert.serialNumber = randomSerial();
  const notBefore = new Date(now - BACKDATE_MS);
  // X.509 times have whole seconds: round up, so a certificate lives at least its TTL (a 1 s TTL is not 0 s).
  // Never past the CA's own expiry: a chain is only as valid as its shortest link.
  const notAfter = new Date(Math.min(Math.ceil((now + spec.ttlMs) / 1000) * 1000, authority.notAfter));
  cert.validity.notBefore = notBefore;
  cert.validity.notAfter = notAfter;
  cert.setSubject([
    ...(spec.commonName === undefined ? [] : [{ name: 'commonName', value: spec.commonName }]),
    ...(spec.organizationalUnit === undefined ? [] : [{ name: 'organizationalUnitName', value: spec.organizationalUnit }]),
  ]);
  cert.setIssuer(authority.forgeCert.subject.attributes);
  const aki = authority.keyIdentifier;
  cert.setExtensions([
    { name: 'basicConstraints', cA: false, critical: true },
    { name: 'keyUsage', digitalSignature: true, keyEncipherment: true, critical: true },
    { name: 'extKeyUsage', ...spec.extKeyUsage },
    { name: 'subjectAltName', altNames: spec.altNames, critical: spec.commonName === undefined },
    { name: 'subjectKeyIdentifier' },
    ...(aki ? [{ name: 'authorityKeyIdentifier', keyIdentifier: forge.util.hexToBytes(aki) }] : []),
  ]);
  signNative(cert, authority.key);
  return { certificate: forge.pki.certificateToPem(cert), notBefore, notAfter };
}

/**
 * An X.509-SVID for `spiffeId`, with no subject CN, and the issuing control
 * plane's `cluster` as the subject's one OU (src/tls/cluster-stamp.ts says why there). A CN equal to the service
 * name would make the SVID a valid server certificate for a host of that name
 * to any TLS client that falls back to the CN when there is no DNS SAN (Node
 * does): a workload whose service is named like a control-plane host could
 * then pose as the control plane and collect every client's join token.
 */
export function issueWorkloadCertificate(authority: Authority, publicKeyPem: string, spiffeId: string, ttlMs: number, cluster?: string): IssuedCertificate {
  return issue(authority, {
    publicKeyPem,
    commonName: undefined,
    ...(cluster === undefined ? {} : { organizationalUnit: clusterStamp(cluster) }),
    ttlMs,
    altNames: [{ type: 6, value: spiffeId }],
    extKeyUsage: { serverAuth: true, clientAuth: true },
  });
}

/** The control plane's HTTPS certificate: one SAN per host name or address it is reached by. */
export function issueServingCertificate(authority: Authority, publicKeyPem: string, names: readonly string[], ttlMs: number): IssuedCertificate {
  const altNames = [...new Set(names)].map((n) => (isIP(n) ? { type: 7, ip: n } : { type: 2, value: n }));
  return issue(authority, {
    publicKeyPem,
    commonName: 'hyphae control plane',
    ttlMs,
    altNames,
    extKeyUsage: { serverAuth: true },
  });
}
