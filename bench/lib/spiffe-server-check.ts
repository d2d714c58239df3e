/** A raw undici client's server check, as the mesh's connector makes it: the server must be `expected` (a SPIFFE ID). */
import { X509Certificate } from 'node:crypto';
import type { PeerCertificate } from 'node:tls';
import { checkPeerCertificate } from '../../src/tls/peer-certificate.js';

export function spiffeServerCheck(trustDomain: string, expected: string): (host: string, cert: PeerCertificate) => Error | undefined {
  return (_host, cert) => {
    const c = checkPeerCertificate(new X509Certificate(cert.raw), 'server', trustDomain);
    return c.ok && c.identity.id === expected ? undefined : new Error(`server is not ${expected}`);
  };
}
