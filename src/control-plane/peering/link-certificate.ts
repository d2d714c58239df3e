/**
 * dc1's client certificate for its peering links: a leaf its own CA issues to this control plane
 * (`spiffe://<td>/hyphae/cluster/<dc1>/control-plane`), chaining to the shared root that dc2 trusts.
 * Each link attempt asks for it, so a renewed one is picked up on the next reconnect; it is renewed
 * once half its life has gone, or at once when the CA changes (a rotation or a retired root).
 */
import { generateKeyPair } from '../../tls/keys.js';
import type { CertificateAuthority } from '../ca/certificate-authority.js';

export interface ClientCertificate {
  key: string;
  /** The leaf, then the intermediates up to (not including) the root. */
  cert: string;
}

/** One hour, as a workload's default: a leaked key is worth little for long. */
const TTL_MS = 3600_000;

export class LinkCertificate {
  #ca: CertificateAuthority;
  #cluster: string;
  #current: { cert: ClientCertificate; renewAt: number } | undefined;
  #pending: Promise<ClientCertificate> | undefined;

  constructor(ca: CertificateAuthority, cluster: string) {
    this.#ca = ca;
    this.#cluster = cluster;
    ca.onChange(() => (this.#current = undefined));
  }

  get(now = Date.now()): Promise<ClientCertificate> {
    if (this.#current && now < this.#current.renewAt) return Promise.resolve(this.#current.cert);
    // Links starting together share one issuance.
    this.#pending ??= this.#issue(now).finally(() => (this.#pending = undefined));
    return this.#pending;
  }

  async #issue(now: number): Promise<ClientCertificate> {
    const keys = await generateKeyPair();
    const signed = this.#ca.signControlPlane(keys.publicKey.export({ type: 'spki', format: 'pem' }) as string, this.#cluster, TTL_MS);
    const cert = { key: keys.privateKey.export({ type: 'pkcs8', format: 'pem' }) as string, cert: [signed.certificate, ...signed.chain].join('\n') };
    // Half its life on the caller's clock, the one get() is asked with.
    this.#current = { cert, renewAt: now + (signed.notAfter.getTime() - signed.notBefore.getTime()) / 2 };
    return cert;
  }
}
