/** Workload key pairs: made locally with Node's native crypto (on its thread pool), never sent anywhere. */
import { generateKeyPair as generate, type KeyObject } from 'node:crypto';

export interface KeyPair {
  privateKey: KeyObject;
  publicKey: KeyObject;
}

/** RSA 2048: what the CA accepts (node-forge, which verifies CSRs, handles RSA only). */
export function generateKeyPair(): Promise<KeyPair> {
  return new Promise((resolve, reject) => {
    generate('rsa', { modulusLength: 2048 }, (err, publicKey, privateKey) => (err ? reject(err) : resolve({ publicKey, privateKey })));
  });
}
