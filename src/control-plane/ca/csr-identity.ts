/**
 * Which identity a CSR is signed for. The CA decides it, and builds the
 * leaf's subject (empty) and its one URI SAN from it (issue.ts); nothing of
 * the CSR's subject is copied (issue 13: a CN-only CSR reached the signer
 * without the SPIFFE checks, and the admin token got `…/sa/../../etc` signed).
 *
 * - The identity comes from the CSR's URI SAN, a workload SPIFFE ID in this
 *   trust domain, strictly parsed (../../tls/spiffe.ts), or, when there is
 *   none, from the join token. The CN is never a source of identity: the
 *   admin token must name the identity in a URI SAN.
 * - The CN is checked, not used: absent, the issued SPIFFE ID, or the issued
 *   service's name (what hyphae workloads send, tls/csr.ts). Anything else is
 *   refused rather than ignored, so that a caller asking for one name is never
 *   handed a certificate for another. Other subject attributes (O, OU, …) are
 *   ignored: the leaf's subject is empty whatever they say.
 */
import { parseWorkloadId, spiffeIdProblem, workloadId } from '../../tls/spiffe.js';
import type { Principal } from '../auth/principal.js';
import { badRequest, forbidden } from '../http/http-error.js';
import type { ParsedCsr } from './csr.js';

export interface CsrIdentity {
  namespace: string;
  service: string;
  /** `spiffe://<trust domain>/ns/<namespace>/sa/<service>`: the leaf's only name. */
  spiffeId: string;
}

/**
 * The identity to sign for; throws 400 (malformed) or 403 (another trust domain's). Whether the caller may
 * have it is checked next (requireIdentity), then its CN against it (checkCsrSubject).
 */
export function csrIdentity(trustDomain: string, csr: ParsedCsr, principal: Principal | undefined): CsrIdentity {
  const cn = csr.commonName;
  if (cn?.startsWith('spiffe://')) {
    const problem = spiffeIdProblem(cn);
    if (problem !== undefined) throw badRequest(`invalid CSR: its subject CN "${clip(cn)}" is not a valid SPIFFE ID (${problem})`);
  }
  if (csr.uris.length > 1) throw badRequest(`invalid CSR: it asks for ${csr.uris.length} URI SANs; an X.509-SVID has exactly one`);
  let id: { namespace: string; service: string };
  if (csr.uris.length === 1) {
    const uri = csr.uris[0]!;
    const parsed = parseWorkloadId(uri);
    if (!parsed) throw badRequest(`invalid CSR: URI SAN "${clip(uri)}" is not a workload SPIFFE ID (spiffe://<trust-domain>/ns/<namespace>/sa/<service>)${why(uri)}`);
    if (parsed.trustDomain !== trustDomain) throw forbidden(`the CSR asks for ${parsed.id}, outside this mesh's trust domain ${trustDomain}`);
    id = { namespace: parsed.namespace, service: parsed.service };
  } else if (principal?.kind === 'join') {
    id = { namespace: principal.namespace, service: principal.service };
  } else {
    throw badRequest('invalid CSR: it names no identity; put the SPIFFE ID (spiffe://<trust-domain>/ns/<namespace>/sa/<service>) in a URI SAN ' + '(the subject CN is never taken as an identity)');
  }
  return { ...id, spiffeId: workloadId(trustDomain, id.namespace, id.service) };
}

/** The CN, if any, must name the identity decided: its SPIFFE ID or its service's name; 403 otherwise. */
export function checkCsrSubject(csr: ParsedCsr, { spiffeId, service }: CsrIdentity): void {
  const cn = csr.commonName;
  if (cn === undefined || cn === spiffeId || cn === service) return;
  throw forbidden(`the CSR's subject CN "${clip(cn)}" is not the identity this CA issues for it (${spiffeId}); leave the CN out, or make it that ID or "${service}"`);
}

/** The strict parser's reason, when the URI is not even a SPIFFE ID (dot segments, percent-encoding…). */
function why(uri: string): string {
  const problem = spiffeIdProblem(uri);
  return problem === undefined ? '' : `: ${problem}`;
}

function clip(s: string): string {
  return s.length > 200 ? `${s.slice(0, 197)}...` : s;
}
