/**
 * The workload's SVID and trust bundle as a grpc-js CertificateProvider, for
 * channel and server credentials alike. grpc-js reads a provider's latest
 * update for every new connection (never per call), so a rotation reaches new
 * connections at once and leaves the ones open, and their calls, alone: the
 * same rule as the HTTP side (src/tls/workload-tls.ts).
 */
import type { experimental } from '@grpc/grpc-js';
import { ErrorCode, MeshError } from '../core/errors.js';
import type { Disposer } from '../core/events.js';
import type { Logger } from '../core/logger.js';
import type { WorkloadTls } from '../tls/workload-tls.js';

type CaListener = experimental.CaCertificateUpdateListener;
type IdentityListener = experimental.IdentityCertificateUpdateListener;

export class WorkloadCertificateProvider implements experimental.CertificateProvider {
  #tls: WorkloadTls | undefined;
  #ca: CaListener[] = [];
  #identity: IdentityListener[] = [];
  #unfollow: Disposer | undefined;
  #caUpdate: experimental.CaCertificateUpdate | null | undefined;
  #identityUpdate: experimental.IdentityCertificateUpdate | null | undefined;

  /** `tls` resolves once the mesh started; a start that fails leaves every listener told `null` (no credentials). */
  constructor(tls: Promise<WorkloadTls | undefined>, logger: Logger) {
    tls.then(
      (t) => {
        if (!t) return this.#fail(logger, new MeshError(ErrorCode.INVALID_OPTIONS, 'this mesh has no mTLS (its control plane is not https://): use plaintext gRPC credentials'));
        this.#tls = t;
        this.#unfollow = t.onChange(() => this.#refresh());
        this.#refresh();
      },
      (err: unknown) => this.#fail(logger, err),
    );
  }

  addCaCertificateListener(listener: CaListener): void {
    this.#ca.push(listener);
    this.#tellLater(() => this.#ca.includes(listener) && this.#caUpdate !== undefined && listener(this.#caUpdate));
  }

  removeCaCertificateListener(listener: CaListener): void {
    this.#ca = this.#ca.filter((l) => l !== listener);
  }

  addIdentityCertificateListener(listener: IdentityListener): void {
    this.#identity.push(listener);
    this.#tellLater(() => this.#identity.includes(listener) && this.#identityUpdate !== undefined && listener(this.#identityUpdate));
  }

  removeIdentityCertificateListener(listener: IdentityListener): void {
    this.#identity = this.#identity.filter((l) => l !== listener);
  }

  /**
   * The current update, told to a listener just added on the next tick, not inside the add: grpc-js's server
   * credentials add their provider listener before their own watcher (the bound server), so an update told
   * synchronously reaches no watcher and the server keeps refusing every connection ("unloaded credentials").
   */
  #tellLater(tell: () => unknown): void {
    process.nextTick(tell);
  }

  /** Stop following the workload's certificate (the adapter that made it closed). */
  close(): void {
    this.#unfollow?.();
    this.#unfollow = undefined;
  }

  #refresh(): void {
    const tls = this.#tls!;
    // The expired certificate is still served (as on the HTTP side) so a peer's refusal says why.
    const material = tls.serverMaterial();
    const roots = tls.provider.trustBundle.roots;
    this.#caUpdate = roots.length > 0 ? { caCertificate: Buffer.from(roots.join('\n')) } : null;
    this.#identityUpdate = material ? { certificate: Buffer.from(String(material.options.cert)), privateKey: Buffer.from(String(material.options.key)) } : null;
    for (const l of this.#ca) l(this.#caUpdate);
    for (const l of this.#identity) l(this.#identityUpdate);
  }

  #fail(logger: Logger, err: unknown): void {
    logger.error('hyphae/grpc: no workload certificate for gRPC', { error: String(err) });
    this.#caUpdate = null;
    this.#identityUpdate = null;
    for (const l of this.#ca) l(null);
    for (const l of this.#identity) l(null);
  }
}
