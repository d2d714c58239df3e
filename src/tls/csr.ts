/**
 * The certificate signing request a workload sends to the CA: its public key,
 * CN = its service name, and one URI SAN with the SPIFFE ID it asks for. The
 * CA takes the identity from the URI SAN alone and signs it only if the join
 * token allows it; the CN is merely checked (it must be the service's name or
 * its SPIFFE ID) and never reaches the certificate, whose subject is empty.
 */
import forge from 'node-forge';
import type { KeyPair } from './keys.js';
import { signNative } from './native-sign.js';
import { workloadId } from './spiffe.js';

export interface CsrIdentity {
  trustDomain: string;
  namespace: string;
  service: string;
}

/** URI in a GeneralName (RFC 5280): type 6. */
const URI_NAME = 6;

export function createCsr(keys: KeyPair, id: CsrIdentity): string {
  const csr = forge.pki.createCertificationRequest();
  csr.publicKey = forge.pki.publicKeyFromPem(keys.publicKey.export({ type: 'spki', format: 'pem' }) as string);
  csr.setSubject([{ name: 'commonName', value: id.service }]);
  csr.setAttributes([
    {
      name: 'extensionRequest',
      extensions: [{ name: 'subjectAltName', altNames: [{ type: URI_NAME, value: workloadId(id.trustDomain, id.namespace, id.service) }] }],
    },
  ]);
  signNative(csr, keys.privateKey);
  return forge.pki.certificationRequestToPem(csr);
}
