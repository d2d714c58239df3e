/**
 * What a workload certificate must be, checked on every mTLS handshake in
 * both directions after OpenSSL has verified the chain: exactly one URI SAN
 * that is a hyphae workload ID, not a CA, the extended key usage for its role
 * (OpenSSL checks the purpose too; we check again so that the rule does not
 * depend on OpenSSL's defaults), and inside its validity period. The identity
 * it gives carries the cluster the certificate names, when it names one.
 */
import type { X509Certificate } from 'node:crypto';
import { clusterOf } from './cluster-stamp.js';
import { parseWorkloadId, type WorkloadIdentity } from './spiffe.js';

export const EKU_SERVER_AUTH = '1.3.6.1.5.5.7.3.1';
export const EKU_CLIENT_AUTH = '1.3.6.1.5.5.7.3.2';

/** The role the peer plays on the connection: the certificate must allow it. */
export type PeerRole = 'client' | 'server';

/** A verified peer: its SPIFFE identity, and the cluster its certificate names (undefined: an older CA's, ./cluster-stamp.ts). */
export interface CertifiedIdentity extends WorkloadIdentity {
  cluster?: string;
}

export type PeerCheck = { ok: true; identity: CertifiedIdentity } | { ok: false; problem: string };

/**
 * `trustDomain`: the peer's identity must be in it. A chain to a trusted root is not enough on its
 * own: an operator-supplied root may also sign CAs of other trust domains (or other meshes).
 */
export function checkPeerCertificate(cert: X509Certificate, role: PeerRole, trustDomain: string, now = Date.now()): PeerCheck {
  if (cert.ca) return { ok: false, problem: 'the certificate is a CA certificate, not a workload certificate' };
  const from = Date.parse(cert.validFrom);
  const to = Date.parse(cert.validTo);
  if (!(from <= now && now <= to)) return { ok: false, problem: `the certificate is not valid now (valid ${cert.validFrom} to ${cert.validTo})` };
  const eku = cert.keyUsage ?? [];
  const wanted = role === 'client' ? EKU_CLIENT_AUTH : EKU_SERVER_AUTH;
  if (!eku.includes(wanted)) {
    return { ok: false, problem: `the certificate's extended key usage does not allow ${role === 'client' ? 'clientAuth' : 'serverAuth'}` };
  }
  const uris = uriSans(cert.subjectAltName);
  if (uris === undefined) return { ok: false, problem: 'the subjectAltName extension cannot be read' };
  if (uris.length !== 1) return { ok: false, problem: `the certificate has ${uris.length} URI SANs; a workload certificate has exactly one` };
  const identity = parseWorkloadId(uris[0]!);
  if (!identity) return { ok: false, problem: `the URI SAN "${uris[0]!.slice(0, 200)}" is not a workload SPIFFE ID (spiffe://<trust-domain>/ns/<namespace>/sa/<service>)` };
  if (identity.trustDomain !== trustDomain) return { ok: false, problem: `the identity ${identity.id} is not in this mesh's trust domain ${trustDomain}` };
  const cluster = clusterOf(cert);
  return { ok: true, identity: cluster === undefined ? identity : { ...identity, cluster } };
}

/**
 * The URI entries of a subjectAltName as Node renders it: `DNS:a, URI:b`,
 * where a value holding a delimiter or quote is written as a JSON string.
 * Undefined when the text does not parse (the caller refuses the certificate).
 */
export function uriSans(subjectAltName: string | undefined): string[] | undefined {
  if (subjectAltName === undefined || subjectAltName === '') return [];
  const out: string[] = [];
  let i = 0;
  const text = subjectAltName;
  while (i < text.length) {
    const colon = text.indexOf(':', i);
    if (colon < 0) return undefined;
    const type = text.slice(i, colon);
    let value: string;
    let end: number;
    if (text[colon + 1] === '"') {
      end = closingQuote(text, colon + 2);
      if (end < 0) return undefined;
      try {
        value = JSON.parse(text.slice(colon + 1, end + 1)) as string;
      } catch {
        return undefined;
      }
      end += 1;
    } else {
      const sep = text.indexOf(', ', colon + 1);
      end = sep < 0 ? text.length : sep;
      value = text.slice(colon + 1, end);
    }
    if (type === 'URI') out.push(value);
    if (end < text.length) {
      if (!text.startsWith(', ', end)) return undefined;
      end += 2;
    }
    i = end;
  }
  return out;
}

function closingQuote(text: string, from: number): number {
  for (let j = from; j < text.length; j++) {
    if (text[j] === '\\') j++;
    else if (text[j] === '"') return j;
  }
  return -1;
}
