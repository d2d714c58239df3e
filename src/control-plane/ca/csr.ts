/**
 * Reading a CSR that arrives from the network: PEM, PKCS#10, an RSA key of
 * 2048 to 8192 bits with a small public exponent (checked before the
 * signature, so a hostile key cannot make verification slow), a valid
 * self-signature, and the names it asks for. Every failure is a 400 that says
 * what is wrong; nothing here may throw anything else.
 */
import forge from 'node-forge';
import { badRequest, type HttpError } from '../http/http-error.js';

export interface ParsedCsr {
  /** SPKI PEM of the key to certify. */
  publicKeyPem: string;
  /** URI SANs asked for (a workload asks for exactly one). */
  uris: string[];
  commonName: string | undefined;
}

const MIN_BITS = 2048;
const MAX_BITS = 8192;
const PEM = /^-----BEGIN (NEW )?CERTIFICATE REQUEST-----\r?\n[A-Za-z0-9+/=\r\n]+-----END (NEW )?CERTIFICATE REQUEST-----\s*$/;
/** GeneralName types (RFC 5280) a CSR might ask for, by tag. */
const NAME_TYPES: Record<number, string> = { 1: 'email', 2: 'DNS', 6: 'URI', 7: 'IP' };

export function parseCsr(pem: string): ParsedCsr {
  const text = pem.trim();
  if (!PEM.test(text)) throw bad('the csr field must be one PEM "CERTIFICATE REQUEST" block (PKCS#10), e.g. from `openssl req -new`');
  let csr: forge.pki.CertificateSigningRequest;
  try {
    csr = forge.pki.certificationRequestFromPem(text);
  } catch (err) {
    const message = (err as Error).message ?? String(err);
    if (/OID is not RSA/i.test(message)) throw bad("the CSR's key is not RSA: the CA signs RSA keys of 2048 bits or more (EC and Ed25519 are not supported yet)");
    throw bad(`the CSR cannot be parsed: ${message.slice(0, 200)}`);
  }
  const key = csr.publicKey as forge.pki.rsa.PublicKey | null;
  if (!key?.n || !key.e) throw bad('the CSR has no RSA public key');
  const bits = key.n.bitLength();
  if (bits < MIN_BITS || bits > MAX_BITS) throw bad(`the CSR's RSA key has ${bits} bits; ${MIN_BITS} to ${MAX_BITS} are accepted`);
  if (key.e.bitLength() > 32) throw bad("the CSR's RSA public exponent is unreasonably large (use 65537)");
  let verified: boolean;
  try {
    verified = csr.verify();
  } catch {
    // forge throws for a signature that does not even decode: the same answer as one that does not match.
    verified = false;
  }
  if (!verified) throw bad("the CSR's signature does not verify: it was not signed with the key it carries");

  const uris: string[] = [];
  const others: string[] = [];
  const request = csr.getAttribute({ name: 'extensionRequest' }) as { extensions?: { name?: string; altNames?: { type: number; value: string }[] }[] } | null;
  for (const ext of request?.extensions ?? []) {
    if (ext.name !== 'subjectAltName') continue;
    for (const n of ext.altNames ?? []) {
      if (n.type === 6) uris.push(String(n.value));
      else others.push(`${NAME_TYPES[n.type] ?? `type ${n.type}`}`);
    }
  }
  if (others.length > 0) {
    throw bad(`the CSR asks for ${others.join(', ')} names; an X.509-SVID carries only its SPIFFE ID (one URI SAN)`);
  }
  const cn = csr.subject.getField('CN') as { value?: unknown } | null;
  return {
    publicKeyPem: forge.pki.publicKeyToPem(key),
    uris,
    commonName: cn?.value === undefined ? undefined : String(cn.value),
  };
}

function bad(message: string): HttpError {
  return badRequest(`invalid CSR: ${message}`);
}
