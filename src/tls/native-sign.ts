/**
 * node-forge builds and encodes certificates and CSRs, but its RSA signing is
 * plain JavaScript (25-60 ms of blocked event loop per signature at 2048
 * bits). forge's sign(key, md) only asks `md` for its algorithm and the bytes
 * to sign, and `key` for a signature: handing it these two small objects lets
 * Node's native crypto do the signing, and forge everything else.
 */
import { sign, type KeyObject } from 'node:crypto';
import type forge from 'node-forge';

interface Signable {
  sign(key: forge.pki.rsa.PrivateKey, md: forge.md.MessageDigest): void;
}

export function signNative(target: forge.pki.Certificate | forge.pki.CertificateSigningRequest, key: KeyObject): void {
  let tbs = '';
  const md = {
    algorithm: 'sha256',
    update(bytes: string) {
      tbs += bytes;
      return md;
    },
  };
  const signer = { sign: () => sign('sha256', Buffer.from(tbs, 'binary'), key).toString('binary') };
  (target as Signable).sign(signer as unknown as forge.pki.rsa.PrivateKey, md as unknown as forge.md.MessageDigest);
}
