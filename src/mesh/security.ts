/**
 * mTLS for one mesh process, wired from the pieces of src/tls: the
 * certificate provider signs through the control-plane client, the trust
 * bundle follows the watch stream, servers learn their own mode (STRICT,
 * PERMISSIVE, DISABLE) from their service's snapshot, and every destination's
 * endpoint pools dial through the mTLS connector.
 */
import { ErrorCode, MeshError } from '../core/errors.js';
import { Listeners, type Disposer } from '../core/events.js';
import type { Logger } from '../core/logger.js';
import type { MtlsMode } from '../config/resources.js';
import type { ControlPlaneClient } from '../discovery/control-plane-client.js';
import type { WatchCache } from '../discovery/watch-cache.js';
import type { WatchStream } from '../discovery/watch-stream.js';
import type { PoolFactory } from '../client/endpoint/endpoint.js';
import { endpointConnector } from '../client/endpoint/servername.js';
import { endpointPool, type Http1Transport } from '../client/endpoint/pool.js';
import type { InboundTls } from '../server/mtls-front.js';
import type { CertificateProvider } from '../tls/certificate-provider.js';
import type { CertificateSigner, TrustBundle } from '../tls/signer.js';
import type { WorkloadTls } from '../tls/workload-tls.js';
import type { IdentityCache } from './identity-cache.js';

/**
 * The workload-identity modules, loaded by the first mesh that has mTLS: a mesh
 * whose control plane is http:// never needs them, and every module a process
 * loads stays in its memory (docs/architecture.md, "Memory per process").
 */
interface TlsModules {
  CertificateProvider: typeof import('../tls/certificate-provider.js').CertificateProvider;
  WorkloadTls: typeof import('../tls/workload-tls.js').WorkloadTls;
  mtlsConnector: typeof import('../tls/mtls-connector.js').mtlsConnector;
}
let tlsModules: Promise<TlsModules> | undefined;

function loadTls(): Promise<TlsModules> {
  return (tlsModules ??= Promise.all([import('../tls/certificate-provider.js'), import('../tls/workload-tls.js'), import('../tls/mtls-connector.js')]).then(
    ([provider, workload, connector]) => ({ CertificateProvider: provider.CertificateProvider, WorkloadTls: workload.WorkloadTls, mtlsConnector: connector.mtlsConnector }),
    (err: unknown) => {
      tlsModules = undefined;
      throw err;
    },
  ));
}

export interface MeshSecurityOptions {
  service: string;
  namespace: string;
  attempts: number;
  wait: boolean;
  logger: Logger;
  /** Keeps the workload's certificate and key for a start during an outage (identity-cache.ts); undefined: none. */
  identityCache?: IdentityCache | undefined;
  /** The control plane is unreachable now: start from the cached trust bundle and identity instead of asking the CA. */
  offline?: { trustBundle: TrustBundle | undefined } | undefined;
}

export class MeshSecurity {
  readonly tls: WorkloadTls;
  readonly inbound: InboundTls;
  #provider: CertificateProvider;
  #mode: MtlsMode | null = null;
  #modeChanges = new Listeners<void>();
  #disposers: Disposer[] = [];
  #identityCache: IdentityCache | undefined;
  #modules: TlsModules;

  private constructor(modules: TlsModules, provider: CertificateProvider) {
    this.#modules = modules;
    this.#provider = provider;
    this.tls = new modules.WorkloadTls(provider);
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
    const modules = await loadTls();
    if (opts.offline) return MeshSecurity.#startOffline(modules, client, opts);
    const bundle = await client.trustBundle();
    client.setTrustedRoots(bundle.roots);
    const provider = MeshSecurity.#newProvider(modules, client, opts, bundle);
    const keep = opts.identityCache;
    const disposeKeep = keep ? provider.onIssued((c) => void keep.save(c)) : undefined;
    await provider.start({ attempts: opts.attempts, wait: opts.wait });
    return MeshSecurity.#wire(modules, client, provider, disposeKeep, keep);
  }

  /** The workload's certificate provider, its CSRs signed by the control plane's CA. */
  static #newProvider(modules: TlsModules, client: ControlPlaneClient, opts: MeshSecurityOptions, bundle: TrustBundle): CertificateProvider {
    const signer: CertificateSigner = {
      sign: async (csr) => {
        const answer = await client.signCertificate(csr);
        return { certificate: answer.certificate, chain: answer.chain, trustBundle: answer.trustBundle };
      },
    };
    return new modules.CertificateProvider({ signer, service: opts.service, namespace: opts.namespace, trustBundle: bundle, logger: opts.logger });
  }

  /**
   * The CA cannot be reached at start: use the trust bundle and the certificate
   * an earlier run kept (checked before use), and renew in the background as
   * soon as the CA answers. Without them, fail as an unreachable control plane.
   */
  static #startOffline(modules: TlsModules, client: ControlPlaneClient, opts: MeshSecurityOptions): MeshSecurity {
    const bundle = opts.offline!.trustBundle;
    const cached = opts.identityCache?.load();
    if (!bundle || !cached) {
      const missing = !bundle ? 'no trust bundle' : opts.identityCache ? 'no workload certificate' : 'no workload certificate (cacheIdentity is off)';
      throw new MeshError(
        ErrorCode.CONTROL_PLANE_UNREACHABLE,
        `the control plane is unreachable and the cache holds ${missing} for ${opts.namespace}/${opts.service}: mTLS cannot start. Start the process once while the control plane is up, or pass waitForControlPlane: true`,
        { retryable: true },
      );
    }
    client.setTrustedRoots(bundle.roots);
    const provider = MeshSecurity.#newProvider(modules, client, opts, bundle);
    const keep = opts.identityCache!;
    const disposeKeep = provider.onIssued((c) => void keep.save(c));
    provider.startFrom(cached);
    return MeshSecurity.#wire(modules, client, provider, disposeKeep, keep);
  }

  static #wire(modules: TlsModules, client: ControlPlaneClient, provider: CertificateProvider, disposeKeep: Disposer | undefined, keep: IdentityCache | undefined): MeshSecurity {
    const security = new MeshSecurity(modules, provider);
    security.#identityCache = keep;
    if (disposeKeep) security.#disposers.push(disposeKeep);
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
  poolFactory(dest: { namespace: string; name: string; mode: () => MtlsMode | null; transport?: Http1Transport }): PoolFactory {
    const connect = this.#modules.mtlsConnector({ tls: this.tls, namespace: dest.namespace, service: dest.name, mode: dest.mode });
    // An endpoint of another cluster gets the mesh SNI its gateway routes by (client/endpoint/servername.ts).
    // The pool's shape follows the Service's protocol; HTTP/2 is offered only over TLS (client/endpoint/pool.ts).
    return (origin, endpoint, protocol, learned, onProtocol) => {
      const mode = dest.mode();
      return endpointPool(origin, { connect: endpointConnector(connect, dest, endpoint), tls: mode === 'STRICT' || mode === 'PERMISSIVE', protocol, learned, onProtocol, transport: dest.transport });
    };
  }

  /** What a process can say about its own identity (diagnostics, tests). */
  identity(): {
    spiffeId: string | undefined;
    notBefore: string | undefined;
    notAfter: string | undefined;
    rotations: number;
    trustBundleVersion: number;
    handshakes: number;
    resumed: number;
  } {
    const c = this.#provider.latest;
    return {
      spiffeId: c?.identity.id,
      notBefore: c ? new Date(c.notBefore).toISOString() : undefined,
      notAfter: c ? new Date(c.notAfter).toISOString() : undefined,
      rotations: this.#provider.rotations,
      trustBundleVersion: this.#provider.trustBundle.version,
      handshakes: this.tls.clientHandshakes,
      resumed: this.tls.clientResumptions,
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
    await this.#identityCache?.flush();
  }
}
