/**
 * A signing authority: a CA certificate, its private key, and the chain up to
 * the self-signed root that goes into the trust bundle. Either made here (a
 * self-signed root, 10 years, the first time a control plane starts) or
 * supplied by the operator (a root, or an intermediate followed by its chain).
 */
import { X509Certificate, createPrivateKey, randomBytes, type KeyObject } from 'node:crypto';
import forge from 'node-forge';
import { ErrorCode, MeshError } from '../../core/errors.js';
import { generateKeyPair } from '../../tls/keys.js';
import { signNative } from '../../tls/native-sign.js';

export interface AuthorityRecord {
  /** Short stable id (SHA-256 fingerprint prefix of the CA certificate), shown by `hyphae ca show`. */
  id: string;
  /** PEM of the CA certificate that signs leaves. */
  certificate: string;
  /** PKCS#8 PEM of its key. Never leaves the control plane. */
  key: string;
  /** PEM of the certificates above it, ending with the self-signed root; empty when it is the root. */
  chain: string[];
  source: 'generated' | 'supplied';
  createdAt: string;
}

/** An authority ready to sign: the record, parsed once. */
export class Authority {
  readonly record: AuthorityRecord;
  readonly key: KeyObject;
  /** forge's view of the CA certificate: its subject is the issuer of every leaf. */
  readonly forgeCert: forge.pki.Certificate;
  readonly x509: X509Certificate;
  /** PEM of the self-signed root this authority chains to (itself for a root). */
  readonly root: string;
  readonly notAfter: number;

  constructor(record: AuthorityRecord) {
    this.record = record;
    this.key = createPrivateKey(record.key);
    this.x509 = new X509Certificate(record.certificate);
    checkAuthority(record, this.x509, this.key);
    this.forgeCert = forge.pki.certificateFromPem(record.certificate);
    this.root = record.chain.length > 0 ? record.chain[record.chain.length - 1]! : record.certificate;
    this.notAfter = Date.parse(this.x509.validTo);
  }

  get id(): string {
    return this.record.id;
  }

  /** The chain a leaf carries after itself: this CA when it is an intermediate, then the ones above it, never the root. */
  get leafChain(): string[] {
    if (this.record.chain.length === 0) return [];
    return [this.record.certificate, ...this.record.chain.slice(0, -1)];
  }

  /** The subject key identifier of the CA certificate, for the leaves' authority key identifier (path building). */
  get keyIdentifier(): string | undefined {
    const ext = this.forgeCert.getExtension('subjectKeyIdentifier') as { subjectKeyIdentifier?: string } | undefined;
    return ext?.subjectKeyIdentifier;
  }
}

export const ROOT_VALIDITY_MS = 10 * 365 * 24 * 3600 * 1000;

/**
 * A new self-signed root for `trustDomain`. Its name carries the date and a random tag: two roots in one
 * bundle (a rotation), or of two meshes, must never share a name, or chain building could pick the wrong one.
 */
export async function createRootAuthority(trustDomain: string, now = new Date()): Promise<AuthorityRecord> {
  const keys = await generateKeyPair();
  const cert = forge.pki.createCertificate();
  cert.publicKey = forge.pki.publicKeyFromPem(keys.publicKey.export({ type: 'spki', format: 'pem' }) as string);
  cert.serialNumber = randomSerial();
  cert.validity.notBefore = new Date(now.getTime() - 60_000);
  cert.validity.notAfter = new Date(now.getTime() + ROOT_VALIDITY_MS);
  const name = [
    { name: 'organizationName', value: 'hyphae' },
    { name: 'commonName', value: `hyphae root CA ${trustDomain} ${now.toISOString().slice(0, 10)} ${randomBytes(4).toString('hex')}` },
  ];
  cert.setSubject(name);
  cert.setIssuer(name);
  cert.setExtensions([
    { name: 'basicConstraints', cA: true, critical: true },
    { name: 'keyUsage', keyCertSign: true, cRLSign: true, digitalSignature: true, critical: true },
    { name: 'subjectKeyIdentifier' },
  ]);
  signNative(cert, keys.privateKey);
  const certificate = forge.pki.certificateToPem(cert);
  return {
    id: fingerprintId(certificate),
    certificate,
    key: keys.privateKey.export({ type: 'pkcs8', format: 'pem' }) as string,
    chain: [],
    source: 'generated',
    createdAt: now.toISOString(),
  };
}

/**
 * Check and adopt an operator's CA: `certPem` holds the CA certificate first,
 * then (for an intermediate) every certificate up to and including the
 * self-signed root. Every problem is a clear INVALID_OPTIONS error.
 */
export function suppliedAuthority(certPem: string, keyPem: string, what = '--ca-cert/--ca-key'): AuthorityRecord {
  const fail = (why: string) => new MeshError(ErrorCode.INVALID_OPTIONS, `${what}: ${why}`);
  const pems = certPem.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g) ?? [];
  if (pems.length === 0) throw fail('no PEM certificate (-----BEGIN CERTIFICATE-----) found');
  let certs: X509Certificate[];
  try {
    certs = pems.map((p) => new X509Certificate(p));
  } catch (err) {
    throw fail(`a certificate cannot be parsed: ${(err as Error).message}`);
  }
  let key: KeyObject;
  try {
    key = createPrivateKey(keyPem);
  } catch (err) {
    throw fail(`the key cannot be parsed: ${(err as Error).message}`);
  }
  if (key.asymmetricKeyType !== 'rsa') throw fail(`the CA key is ${key.asymmetricKeyType}; the CA signs with RSA keys only`);
  const ca = certs[0]!;
  if (!ca.ca) throw fail('the first certificate is not a CA certificate (basicConstraints CA:TRUE)');
  if (!ca.checkPrivateKey(key)) throw fail('the key does not belong to the first certificate');
  const now = Date.now();
  certs.forEach((c, i) => {
    if (!(Date.parse(c.validFrom) <= now && now < Date.parse(c.validTo))) throw fail(`certificate ${i + 1} is not valid now (${c.validFrom} to ${c.validTo})`);
    if (i > 0 && !certs[i - 1]!.checkIssued(c)) throw fail(`certificate ${i} is not issued by certificate ${i + 1}: give the chain in order, up to the root`);
    if (i > 0 && !certs[i - 1]!.verify(c.publicKey)) throw fail(`the signature of certificate ${i} does not verify with certificate ${i + 1}`);
  });
  const last = certs[certs.length - 1]!;
  if (!last.checkIssued(last) || !last.verify(last.publicKey)) {
    throw fail('the chain does not end with a self-signed root: append the intermediates and the root after the CA certificate');
  }
  let forgeCert: forge.pki.Certificate;
  try {
    forgeCert = forge.pki.certificateFromPem(pems[0]!);
  } catch (err) {
    throw fail(`the CA certificate cannot be used: ${(err as Error).message}`);
  }
  const ku = forgeCert.getExtension('keyUsage') as { keyCertSign?: boolean } | undefined;
  if (ku && !ku.keyCertSign) throw fail("the CA certificate's key usage does not allow keyCertSign");
  return {
    id: fingerprintId(pems[0]!),
    certificate: normalizePem(pems[0]!),
    key: key.export({ type: 'pkcs8', format: 'pem' }) as string,
    chain: pems.slice(1).map(normalizePem),
    source: 'supplied',
    createdAt: new Date(now).toISOString(),
  };
}

/**
 * What is checked of an operator's CA, checked of every authority read back
 * from a store too (a file, or etcd where a writer without the encryption key
 * could otherwise swap the certificate or the chain next to a sealed key):
 * the key is the certificate's, the id is its fingerprint, each chain link
 * issued and signed the one before, and the chain ends with a self-signed root.
 * Validity dates are not checked here: an authority past its date stays
 * loadable, so that it can be retired.
 */
export function checkAuthority(record: AuthorityRecord, x509 = new X509Certificate(record.certificate), key = createPrivateKey(record.key)): void {
  const fail = (why: string) => new MeshError(ErrorCode.INVALID_CONFIG, `CA authority ${record.id}: ${why}; refusing it`);
  if (!x509.ca) throw fail('its certificate is not a CA certificate');
  if (!x509.checkPrivateKey(key)) throw fail('its private key does not belong to its certificate');
  if (fingerprintId(record.certificate) !== record.id) throw fail("its id is not its certificate's fingerprint");
  let chain: X509Certificate[];
  try {
    chain = [x509, ...record.chain.map((p) => new X509Certificate(p))];
  } catch (err) {
    throw fail(`a certificate of its chain cannot be parsed: ${(err as Error).message}`);
  }
  for (let i = 1; i < chain.length; i++) {
    if (!chain[i - 1]!.checkIssued(chain[i]!) || !chain[i - 1]!.verify(chain[i]!.publicKey)) throw fail(`chain certificate ${i} did not issue certificate ${i - 1}`);
  }
  const last = chain[chain.length - 1]!;
  if (!last.checkIssued(last) || !last.verify(last.publicKey)) throw fail('its chain does not end with a self-signed root');
}

/** 128 random bits, positive and minimally encoded in DER (RFC 5280 4.1.2.2). */
export function randomSerial(): string {
  const bytes = randomBytes(16);
  bytes[0] = (bytes[0]! & 0x7f) | 0x40;
  return bytes.toString('hex');
}

function fingerprintId(pem: string): string {
  return new X509Certificate(pem).fingerprint256.replace(/:/g, '').slice(0, 16).toLowerCase();
}

function normalizePem(pem: string): string {
  return `${pem.trim()}\n`;
}
