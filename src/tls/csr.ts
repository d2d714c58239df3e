/**
 * The certificate signing request a workload sends to the CA: its public key,
 * CN = its service name, and one URI SAN with the SPIFFE ID it asks for. The
 * CA takes the identity from the URI SAN alone and signs it only if the join
 * token allows it; the CN is merely checked (it must be the service's name or
 * its SPIFFE ID) and never reaches the certificate, whose subject is empty.
 *
 * Encoded here (PKCS#10, RFC 2986) with Node's crypto signing it, not with
 * node-forge: the request is four fixed structures around the key and two
 * names, and forge cost every meshed process several MiB of RSS for it
 * (docs/architecture.md, "Memory per process"). The CA still parses CSRs with
 * forge, so both sides are checked against each other in test/tls/csr.test.ts.
 */
import { sign } from 'node:crypto';
import { bitString, ia5Content, nullValue, octetString, oid, pem, sequence, set, smallInteger, tlv, utf8String } from './der.js';
import type { KeyPair } from './keys.js';
import { workloadId } from './spiffe.js';

export interface CsrIdentity {
  trustDomain: string;
  namespace: string;
  service: string;
}

const OID_COMMON_NAME = '2.5.4.3';
const OID_EXTENSION_REQUEST = '1.2.840.113549.1.9.14';
const OID_SUBJECT_ALT_NAME = '2.5.29.17';
const OID_SHA256_WITH_RSA = '1.2.840.113549.1.1.11';
/** GeneralName uniformResourceIdentifier: [6] IMPLICIT IA5String (RFC 5280). */
const URI_NAME_TAG = 0x86;
/** CertificationRequestInfo.attributes: [0] IMPLICIT SET OF Attribute. */
const ATTRIBUTES_TAG = 0xa0;

export function createCsr(keys: KeyPair, id: CsrIdentity): string {
  // The CA takes RSA keys only (control-plane/ca/csr.ts), and the signature algorithm below is RSA's.
  if (keys.privateKey.asymmetricKeyType !== 'rsa') throw new TypeError(`a workload CSR needs an RSA key, not ${keys.privateKey.asymmetricKeyType}`);
  const subject = sequence(set(sequence(oid(OID_COMMON_NAME), utf8String(id.service))));
  const san = sequence(tlv(URI_NAME_TAG, ia5Content(workloadId(id.trustDomain, id.namespace, id.service))));
  const extensions = sequence(sequence(oid(OID_SUBJECT_ALT_NAME), octetString(san)));
  const attributes = tlv(ATTRIBUTES_TAG, sequence(oid(OID_EXTENSION_REQUEST), set(extensions)));
  const info = sequence(smallInteger(0), subject, keys.publicKey.export({ type: 'spki', format: 'der' }), attributes);
  const signature = sign('sha256', info, keys.privateKey);
  return pem('CERTIFICATE REQUEST', sequence(info, sequence(oid(OID_SHA256_WITH_RSA), nullValue()), bitString(signature)));
}
