/**
 * The TLS material of this workload, as Node wants it: one client
 * SecureContext and one set of server options, rebuilt once per certificate
 * or trust-bundle change (never per connection) and read by every new
 * connection. Connections already open keep the context they started with,
 * so a rotation never disturbs a call in flight.
 */
import { createSecureContext, type SecureContext, type SecureContextOptions } from 'node:tls';
import { Listeners, type Disposer } from '../core/events.js';
import type { CertificateProvider } from './certificate-provider.js';
import { TlsSessionCache } from './session-cache.js';
import { workloadId, type WorkloadIdentity } from './spiffe.js';

export interface ServerTlsMaterial {
  /** Grows with every change, so a server can tell whether it holds the latest. */
  version: number;
  options: SecureContextOptions;
  /** Peers must carry an identity in this trust domain (a root may also sign other domains' CAs). */
  trustDomain: string;
}

export class WorkloadTls {
  readonly provider: CertificateProvider;
  #version = 0;
  #client: SecureContext | undefined;
  #server: ServerTlsMaterial | undefined;
  #changes = new Listeners<number>();
  #dispose: Disposer;
  /** TLS handshakes completed by this workload's clients (connection reuse shows as a small number). */
  clientHandshakes = 0;
  /** Sessions this workload's mTLS clients resume, filed under the client context they were made with. */
  readonly sessions = new TlsSessionCache();
  /** Of clientHandshakes, those that resumed a TLS session (src/tls/session-cache.ts). */
  clientResumptions = 0;

  constructor(provider: CertificateProvider) {
    this.provider = provider;
    this.#dispose = provider.onChange(() => {
      this.#version++;
      this.#client = undefined;
      this.#server = undefined;
      this.#changes.emit(this.#version);
    });
  }

  get identity(): WorkloadIdentity | undefined {
    return this.provider.current?.identity;
  }

  get trustDomain(): string {
    return this.provider.trustBundle.trustDomain;
  }

  /** The SPIFFE ID a server of `namespace/service` must present. */
  expectedId(namespace: string, service: string): string {
    return workloadId(this.trustDomain, namespace, service);
  }

  /** For outgoing connections; undefined when there is no valid certificate (never obtained, or expired). */
  clientContext(): SecureContext | undefined {
    if (this.#client) {
      // Expiry is not a change event: check it on the way out.
      return this.provider.current ? this.#client : undefined;
    }
    const opts = this.#options();
    return opts ? (this.#client = createSecureContext(opts)) : undefined;
  }

  /** For a TLS server (tls.Server#setSecureContext); the expired certificate is still served so peers see why. */
  serverMaterial(): ServerTlsMaterial | undefined {
    if (this.#server) return this.#server;
    const opts = this.#options(true);
    return opts ? (this.#server = { version: this.#version, options: opts, trustDomain: this.trustDomain }) : undefined;
  }

  /** Called with the new version after every certificate or bundle change. */
  onChange(listener: (version: number) => void): Disposer {
    return this.#changes.on(listener);
  }

  #options(evenExpired = false): SecureContextOptions | undefined {
    const c = evenExpired ? this.provider.latest : this.provider.current;
    if (!c) return undefined;
    return {
      key: c.key,
      // The leaf first, then any intermediates, so a peer can build the chain to a root it trusts.
      cert: [c.certificate, ...c.chain].join('\n'),
      ca: [...this.provider.trustBundle.roots],
      minVersion: 'TLSv1.2',
    };
  }

  close(): void {
    this.#dispose();
    this.#changes.clear();
  }
}
