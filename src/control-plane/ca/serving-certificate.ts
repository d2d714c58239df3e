/**
 * The control plane's own HTTPS certificate, from its own CA: SANs for every
 * name it is reached by, renewed well before expiry and whenever the authority
 * that signs it changes (a retired root). Its key never leaves this process.
 */
import os from 'node:os';
import type { SecureContextOptions } from 'node:tls';
import { generateKeyPair } from '../../tls/keys.js';
import type { CertificateAuthority } from './certificate-authority.js';

const TTL_MS = 30 * 24 * 3600 * 1000;
const RENEW_EVERY_MS = 24 * 3600 * 1000;

/** localhost in both families, the listen address, and for a wildcard listen the host name and every interface address. */
export function servingNames(host: string, extra: readonly string[] = []): string[] {
  const names = new Set<string>(['localhost', '127.0.0.1', '::1', ...extra]);
  if (host === '0.0.0.0' || host === '::' || host === '') {
    names.add(os.hostname());
    for (const addrs of Object.values(os.networkInterfaces())) for (const a of addrs ?? []) names.add(a.address.replace(/%.*$/, ''));
  } else {
    names.add(host.replace(/^\[|\]$/g, ''));
  }
  return [...names];
}

export class ServingCertificate {
  #ca: CertificateAuthority;
  #names: string[];
  #options!: SecureContextOptions;
  #signedBy = '';
  #timer: NodeJS.Timeout | undefined;
  #onRenew: ((opts: SecureContextOptions) => void) | undefined;

  private constructor(ca: CertificateAuthority, names: string[]) {
    this.#ca = ca;
    this.#names = names;
  }

  static async create(ca: CertificateAuthority, names: string[]): Promise<ServingCertificate> {
    const s = new ServingCertificate(ca, names);
    await s.#issue();
    s.#timer = setInterval(() => void s.#issue().catch(() => {}), RENEW_EVERY_MS);
    s.#timer.unref();
    return s;
  }

  get options(): SecureContextOptions {
    return this.#options;
  }

  get names(): readonly string[] {
    return this.#names;
  }

  /** Called with the new key and certificate after each renewal (the server swaps its context). */
  onRenew(listener: (opts: SecureContextOptions) => void): void {
    this.#onRenew = listener;
  }

  /** Re-issue if the signing authority changed (after a retirement). */
  async refresh(): Promise<void> {
    if (this.#ca.servingAuthority !== this.#signedBy) await this.#issue();
  }

  async #issue(): Promise<void> {
    const keys = await generateKeyPair();
    const signed = this.#ca.signServing(keys.publicKey.export({ type: 'spki', format: 'pem' }) as string, this.#names, TTL_MS);
    this.#signedBy = this.#ca.servingAuthority;
    this.#options = {
      key: keys.privateKey.export({ type: 'pkcs8', format: 'pem' }) as string,
      cert: [signed.certificate, ...signed.chain].join('\n'),
    };
    this.#onRenew?.(this.#options);
  }

  close(): void {
    clearInterval(this.#timer);
  }
}
