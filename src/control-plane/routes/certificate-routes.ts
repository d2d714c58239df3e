/** The trust bundle (public) and certificate issuance (a join token signs for its own identity only). */
import { csrRequestSchema, type CertificateResponse } from '../../config/wire.js';
import { parseWorkloadId } from '../../tls/spiffe.js';
import type { Principal } from '../auth/principal.js';
import { requireIdentity } from '../auth/authorize.js';
import { parseCsr, type ParsedCsr } from '../ca/csr.js';
import type { CertificateAuthority } from '../ca/certificate-authority.js';
import { badRequest, forbidden, notFound } from '../http/http-error.js';
import type { Route } from '../http/router.js';
import { validate } from '../http/validation.js';
import type { ApiDeps } from './deps.js';

export function noCa(): never {
  throw notFound('this control plane runs with --insecure: it has no CA, no certificates and no tokens');
}

export function certificateRoutes({ ca }: ApiDeps): Route[] {
  return [
    {
      method: 'GET',
      path: '/v1/trust-bundle',
      // Public material, and what a new workload needs before it has anything else.
      auth: 'none',
      handle: () => ({ status: 200, body: ca ? ca.bundle : noCa() }),
    },
    {
      method: 'POST',
      path: '/v1/certificates',
      body: 'required',
      auth: 'any',
      handle: ({ body, principal }) => {
        if (!ca) noCa();
        const { csr } = validate(csrRequestSchema, body, 'certificate request');
        const parsed = parseCsr(csr);
        const { namespace, service } = requestedIdentity(ca, parsed, principal);
        requireIdentity(principal, namespace, service, 'obtain the identity of');
        const signed = ca.signWorkload(parsed.publicKeyPem, namespace, service);
        const answer: CertificateResponse = {
          spiffeId: signed.spiffeId,
          certificate: signed.certificate,
          chain: signed.chain,
          notBefore: signed.notBefore.toISOString(),
          notAfter: signed.notAfter.toISOString(),
          trustBundle: ca.bundle,
        };
        return { status: 200, body: answer };
      },
    },
  ];
}

/**
 * The identity a CSR asks for: its URI SAN (a workload ID in our trust
 * domain), its CN (the service name, or the SPIFFE ID), or both, which must
 * then agree. A join token's own identity fills in what the CSR leaves out.
 */
function requestedIdentity(ca: CertificateAuthority, csr: ParsedCsr, principal: Principal | undefined): { namespace: string; service: string } {
  if (csr.uris.length > 1) throw badRequest(`invalid CSR: it asks for ${csr.uris.length} URI SANs; an X.509-SVID has exactly one`);
  let fromUri: { namespace: string; service: string } | undefined;
  if (csr.uris.length === 1) {
    const uri = csr.uris[0]!;
    const id = parseWorkloadId(uri);
    if (!id) throw badRequest(`invalid CSR: URI SAN "${uri.slice(0, 200)}" is not a workload SPIFFE ID (spiffe://<trust-domain>/ns/<namespace>/sa/<service>)`);
    if (id.trustDomain !== ca.trustDomain) throw forbidden(`the CSR asks for ${id.id}, outside this mesh's trust domain ${ca.trustDomain}`);
    fromUri = { namespace: id.namespace, service: id.service };
  }
  let fromCn: { namespace?: string; service: string } | undefined;
  if (csr.commonName !== undefined) {
    const id = csr.commonName.startsWith('spiffe://') ? parseWorkloadId(csr.commonName) : undefined;
    fromCn = id ? { namespace: id.namespace, service: id.service } : { service: csr.commonName };
  }
  const own = principal?.kind === 'join' ? principal : undefined;
  if (!fromUri && !fromCn) {
    throw badRequest('invalid CSR: it names no identity; put the SPIFFE ID in a URI SAN (or the service name in the subject CN)');
  }
  const namespace = fromUri?.namespace ?? fromCn?.namespace ?? own?.namespace ?? 'default';
  const service = fromUri?.service ?? fromCn!.service;
  if (fromCn && (fromCn.service !== service || (fromCn.namespace !== undefined && fromCn.namespace !== namespace))) {
    throw forbidden(`the CSR's subject CN "${csr.commonName!.slice(0, 100)}" does not name the identity it asks for (${namespace}/${service})`);
  }
  return { namespace, service };
}
