/**
 * mTLS for one mesh process, wired from the pieces of src/tls: the
 * certificate provider signs through the control-plane client, the trust
 * bundle follows the watch stream, servers learn their own mode (STRICT,
 * PERMISSIVE, DISABLE) from their service's snapshot, and every destination's
 * endpoint pools dial through the mTLS connector.
 */
import { Pool } from 'undici';
import { MeshError } from '../core/errors.js';
import { Listeners, type Disposer } from '../core/events.js';
import type { Logger } from '../core/logger.js';
import type { MtlsMode } from '../config/resources.js';
import type { ControlPlaneClient } from '../discovery/control-plane-client.js';
import type { WatchCache } from '../discovery/watch-cache.js';
import type { WatchStream } from '../discovery/watch-stream.js';
import type { PoolFactory } from '../client/endpoint.js';
import type { InboundTls } from '../server/mtls-front.js';
import { CertificateProvider } from '../tls/certificate-provider.js';
import { mtlsConnector } from '../tls/mtls-connector.js';
import type { CertificateSigner } from '../tls/signer.js';
import { WorkloadTls } from '../tls/workload-tls.js';

export interface MeshSecurityOptions {
  service: string;
  namespace: string;
  attempts: number;
  wait: boolean;
  logger: Logger;
}

export class MeshSecurity {
  readonly tls: WorkloadTls;
  readonly inbound: InboundTls;
  #provider: CertificateProvider;
  #mode: MtlsMode | null = null;
  #modeChanges = new Listeners<void>();
  #disposers: Disposer[] = [];

  private constructor(provider: CertificateProvider) {
    this.#provider = provider;
    this.tls = new WorkloadTls(provider);
    this.inbound = {
      // Until this service's snapshot says otherwise, a mesh with a CA is STRICT (fail closed).
      mode: () => this.#mode ?? 'STRICT',
      material: () => this.tls.serverMaterial(),
      onChange: (listener) => {
        const a = this.tls.onChange(() => listener());
        const b = this.#modeChanges.on(listener);
        return () => {
          a();
          b();
        };
      },
    };
  }

  /** Learn the trust domain, obtain the first certificate (bounded attempts, or wait), and return the wired security. */
  static async start(client: ControlPlaneClient, opts: MeshSecurityOptions): Promise<MeshSecurity> {
    const bundle = await client.trustBundle();
    client.setTrustedRoots(bundle.roots);
    const signer: CertificateSigner = {
      sign: async (csr) => {
        const answer = await client.signCertificate(csr);
        return { certificate: answer.certificate, chain: answer.chain, trustBundle: answer.trustBundle };
      },
    };
    const provider = new CertificateProvider({ signer, service: opts.service, namespace: opts.namespace, trustBundle: bundle, logger: opts.logger });
    await provider.start({ attempts: opts.attempts, wait: opts.wait });
    const security = new MeshSecurity(provider);
    // A bundle from a signing answer also reaches the control-plane client.
    security.#disposers.push(provider.onChange((why) => why === 'bundle' && client.setTrustedRoots(provider.trustBundle.roots)));
    return security;
  }

  /** Follow the trust bundle on the watch stream and this service's own mode on its snapshot. */
  follow(stream: WatchStream, cache: WatchCache, self: { namespace: string; name: string }): void {
    this.#disposers.push(
      stream.onTrustBundle((b) => this.#provider.setTrustBundle(b)),
      cache.subscribe(self, (s) => {
        if (s instanceof MeshError || s.status !== 'ready') return;
        if (s.mtlsMode === this.#mode) return;
        this.#mode = s.mtlsMode;
        this.#modeChanges.emit();
      }),
    );
  }

  /** Pools for a destination: each new connection is mTLS or plaintext as the destination's current mode says. */
  poolFactory(dest: { namespace: string; name: string; mode: () => MtlsMode | null }): PoolFactory {
    const connect = mtlsConnector({ tls: this.tls, namespace: dest.namespace, service: dest.name, mode: dest.mode });
    return (origin) => new Pool(origin, { pipelining: 1, connect });
  }

  /** What a process can say about its own identity (diagnostics, tests). */
  identity(): {
    spiffeId: string | undefined;
    notBefore: string | undefined;
    notAfter: string | undefined;
    rotations: number;
    trustBundleVersion: number;
    handshakes: number;
  } {
    const c = this.#provider.latest;
    return {
      spiffeId: c?.identity.id,
      notBefore: c ? new Date(c.notBefore).toISOString() : undefined,
      notAfter: c ? new Date(c.notAfter).toISOString() : undefined,
      rotations: this.#provider.rotations,
      trustBundleVersion: this.#provider.trustBundle.version,
      handshakes: this.tls.clientHandshakes,
    };
  }

  renewNow(): Promise<void> {
    return this.#provider.renewNow();
  }

  async close(): Promise<void> {
    for (const d of this.#disposers) d();
    this.#modeChanges.clear();
    this.tls.close();
    await this.#provider.close();
  }
}
