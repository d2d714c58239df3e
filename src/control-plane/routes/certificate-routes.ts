/** The trust bundle (public) and certificate issuance (a join token signs for its own identity only). */
import { csrRequestSchema, type CertificateResponse } from '../../config/wire.js';
import { isMeshError } from '../../core/errors.js';
import { requireIdentity } from '../auth/authorize.js';
import type { Principal } from '../auth/principal.js';
import type { CertificateAuthority } from '../ca/certificate-authority.js';
import { parseCsr } from '../ca/csr.js';
import { checkCsrSubject, csrIdentity } from '../ca/csr-identity.js';
import { notFound } from '../http/http-error.js';
import type { Route } from '../http/router.js';
import { validate } from '../http/validation.js';
import type { ApiDeps } from './deps.js';

export function noCa(): never {
  throw notFound('this control plane runs with --insecure: it has no CA, no certificates and no tokens');
}

export function certificateRoutes({ ca, metrics }: ApiDeps): Route[] {
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
        try {
          const answer = sign(ca, body, principal);
          metrics.certificateIssued();
          return { status: 200, body: answer };
        } catch (err) {
          // Codes are core/errors.ts's, a fixed set; anything else is one label value.
          metrics.certificateRefused(isMeshError(err) ? err.code : 'internal');
          throw err;
        }
      },
    },
  ];
}

function sign(ca: CertificateAuthority, body: unknown, principal: Principal | undefined): CertificateResponse {
  const { csr } = validate(csrRequestSchema, body, 'certificate request');
  const parsed = parseCsr(csr);
  // The CA decides the identity (and the leaf's only name) from the URI SAN or the token, never from the subject.
  const identity = csrIdentity(ca.trustDomain, parsed, principal);
  const { namespace, service } = identity;
  requireIdentity(principal, namespace, service, 'obtain the identity of');
  checkCsrSubject(parsed, identity);
  const signed = ca.signWorkload(parsed.publicKeyPem, namespace, service);
  const answer: CertificateResponse = {
    spiffeId: signed.spiffeId,
    certificate: signed.certificate,
    chain: signed.chain,
    notBefore: signed.notBefore.toISOString(),
    notAfter: signed.notAfter.toISOString(),
    trustBundle: ca.bundle,
  };
  return answer;
}
