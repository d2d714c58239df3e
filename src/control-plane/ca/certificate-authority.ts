/**
 * The mesh's certificate authority. It holds every authority whose root is in
 * the trust bundle and signs new leaves with the active one. A root rotation
 * is two steps the operator drives: `rotate` stages a new authority (the
 * bundle now holds old and new roots and is pushed to every workload; new
 * leaves come from the new one), `retire` drops the old ones once no leaf they
 * signed can still be valid.
 */
import { chmod, readFile, stat } from 'node:fs/promises';
import { ErrorCode, MeshError } from '../../core/errors.js';
import { Listeners, type Disposer } from '../../core/events.js';
import type { TrustBundle } from '../../config/wire.js';
import { parseWorkloadId, workloadId } from '../../tls/spiffe.js';
import { conflict } from '../http/http-error.js';
import { writeFileAtomic } from '../../core/atomic-write.js';
import { Authority, createRootAuthority, type AuthorityRecord } from './authority.js';
import type { CaState, CaStateStore } from './ca-state.js';
import { controlPlaneId } from './control-plane-id.js';
import { issueServingCertificate, issueWorkloadCertificate, type IssuedCertificate } from './issue.js';

export interface CaOptions {
  store: CaStateStore;
  trustDomain: string;
  /** Lifetime of workload certificates. */
  certTtlMs: number;
  /** This control plane's cluster, stamped into every workload certificate (src/tls/cluster-stamp.ts). */
  cluster?: string;
  /** The operator's CA (used the first time, or checked against the stored one). */
  supplied?: AuthorityRecord;
  /** Where the trust bundle is written as PEM for CLIs and HYPHAE_CA_FILE (rewritten on every change). */
  bundleFile?: string;
  /**
   * Called when the store holds no CA, before one is made: rejects to refuse a new root (a data directory
   * that lost its CA state, ./lost-ca.ts).
   */
  beforeCreate?: () => Promise<void>;
  log: (line: string) => void;
}

export interface SignedWorkload extends IssuedCertificate {
  spiffeId: string;
  chain: string[];
  authority: string;
}

export interface CaStatus {
  trustDomain: string;
  version: number;
  certTtlSeconds: number;
  active: string;
  authorities: {
    id: string;
    subject: string;
    notAfter: string;
    source: string;
    createdAt: string;
    active: boolean;
    leavesValidUntil: string | null;
    /** With a shared store (etcd): the id of the CA encryption key its private key is encrypted with there. */
    encryptionKeyId?: string;
  }[];
}

export class CertificateAuthority {
  readonly trustDomain: string;
  readonly certTtlMs: number;
  #opts: CaOptions;
  #state: CaState;
  #authorities: Authority[];
  #active: Authority;
  /** authority id -> the latest notAfter of a leaf it may have signed (a restart assumes a full TTL from start). */
  #leafHorizon = new Map<string, number>();
  #changes = new Listeners<TrustBundle>();
  /** Rotations, retirements and changes from other replicas run one at a time. */
  #queue: Promise<unknown> = Promise.resolve();
  #unsubscribe: Disposer | undefined;

  private constructor(opts: CaOptions, state: CaState) {
    this.#opts = opts;
    this.trustDomain = state.trustDomain;
    this.certTtlMs = opts.certTtlMs;
    this.#state = state;
    this.#authorities = state.authorities.map((r) => new Authority(r));
    this.#active = this.#authorities.find((a) => a.id === state.active)!;
    const horizon = Date.now() + opts.certTtlMs;
    for (const a of this.#authorities) this.#leafHorizon.set(a.id, horizon);
  }

  /**
   * Load the stored CA, or make (or adopt the supplied) one the first time.
   * With a shared store, replicas starting together may each make a root:
   * the store keeps the first, and the others load it.
   */
  static async open(opts: CaOptions): Promise<CertificateAuthority> {
    const where = opts.store.shared ? opts.store.location : `the data directory (${opts.store.location})`;
    let state = await opts.store.load();
    if (state && opts.store.shared) opts.log(`ca loaded id=${state.active} roots=${state.authorities.length} bundle=v${state.version} state=${opts.store.location}`);
    if (!state) {
      await opts.beforeCreate?.();
      const record = opts.supplied ?? (await createRootAuthority(opts.trustDomain));
      const ours: CaState = { trustDomain: opts.trustDomain, version: 1, authorities: [record], active: record.id };
      state = await opts.store.create(ours);
      if (state === ours) {
        opts.log(`ca created ${record.source === 'supplied' ? 'from the supplied certificate' : 'a self-signed root'} id=${record.id} trust-domain=${opts.trustDomain} state=${opts.store.location}`);
      } else {
        opts.log(`ca loaded: another replica made it first id=${state.active} state=${opts.store.location}`);
      }
    }
    if (state.trustDomain !== opts.trustDomain) {
      throw new MeshError(
        ErrorCode.INVALID_OPTIONS,
        `the CA in ${where} is for trust domain "${state.trustDomain}", not "${opts.trustDomain}": every workload identity would change. ` +
          `Use --trust-domain ${state.trustDomain}${opts.store.shared ? ' on every replica, or another --etcd-prefix' : ', or another data directory'}.`,
      );
    }
    if (opts.supplied && !state.authorities.some((a) => a.id === opts.supplied!.id)) {
      throw new MeshError(
        ErrorCode.INVALID_OPTIONS,
        `${where} already holds a CA (${state.authorities.map((a) => a.id).join(', ')}) and --ca-cert is another one (${opts.supplied.id}). ` +
          `Switch with \`hyphae ca rotate --ca-cert <file> --ca-key <file>\` (workloads keep working across the overlap), or start with another ${opts.store.shared ? '--etcd-prefix' : 'data directory'}.`,
      );
    }
    const ca = new CertificateAuthority(opts, state);
    await ca.#writeBundleFile();
    // Rotations and retirements made through other replicas.
    ca.#unsubscribe = opts.store.onChange?.((next) => void ca.#exclusive(() => ca.#install(next)).catch((err: unknown) => opts.log(`error ca: ${(err as Error).message}`)));
    return ca;
  }

  get bundle(): TrustBundle {
    return { trustDomain: this.trustDomain, version: this.#state.version, roots: this.#authorities.map((a) => a.root) };
  }

  /** Called with the new bundle after every rotation and retirement. */
  onChange(listener: (bundle: TrustBundle) => void): Disposer {
    return this.#changes.on(listener);
  }

  /** Sign a workload certificate for `namespace/service` (identity already checked by the caller). */
  signWorkload(publicKeyPem: string, namespace: string, service: string): SignedWorkload {
    const spiffeId = workloadId(this.trustDomain, namespace, service);
    // The last gate before a leaf exists: whatever a caller passed, the leaf names a valid workload ID of this trust domain.
    const valid = parseWorkloadId(spiffeId);
    if (!valid || valid.namespace !== namespace || valid.service !== service) throw new Error(`refusing to sign an invalid workload identity ${JSON.stringify(spiffeId.slice(0, 300))}`);
    const a = this.#active;
    const issued = issueWorkloadCertificate(a, publicKeyPem, spiffeId, this.certTtlMs, this.#opts.cluster);
    this.#leafHorizon.set(a.id, Math.max(this.#leafHorizon.get(a.id) ?? 0, issued.notAfter.getTime()));
    this.#opts.log(`certificate ${namespace}/${service} authority=${a.id} until=${issued.notAfter.toISOString()}`);
    return { ...issued, spiffeId, chain: a.leafChain, authority: a.id };
  }

  /**
   * The control plane's own HTTPS certificate. It comes from the OLDEST
   * authority in the bundle, which every client has trusted the longest (a CA
   * file written before a rotation still works until the old root retires).
   */
  signServing(publicKeyPem: string, names: readonly string[], ttlMs: number): IssuedCertificate & { chain: string[] } {
    const a = this.#authorities[0]!;
    return { ...issueServingCertificate(a, publicKeyPem, names, ttlMs), chain: a.leafChain };
  }

  /**
   * This control plane's client certificate for its peering links (./control-plane-id.ts): from the same
   * authority as the serving certificate, the one a peer sharing the root has trusted the longest.
   */
  signControlPlane(publicKeyPem: string, cluster: string, ttlMs: number): SignedWorkload {
    const a = this.#authorities[0]!;
    const spiffeId = controlPlaneId(this.trustDomain, cluster);
    return { ...issueWorkloadCertificate(a, publicKeyPem, spiffeId, ttlMs), spiffeId, chain: a.leafChain, authority: a.id };
  }

  /** The id of the authority that signs the serving certificate (changes when the old root retires). */
  get servingAuthority(): string {
    return this.#authorities[0]!.id;
  }

  status(): CaStatus {
    return {
      trustDomain: this.trustDomain,
      version: this.#state.version,
      certTtlSeconds: this.certTtlMs / 1000,
      active: this.#active.id,
      authorities: this.#authorities.map((a) => ({
        id: a.id,
        subject: a.x509.subject.replace(/\n/g, ', '),
        notAfter: new Date(a.notAfter).toISOString(),
        source: a.record.source,
        createdAt: a.record.createdAt,
        active: a === this.#active,
        leavesValidUntil: a === this.#active ? null : new Date(this.#leafHorizon.get(a.id) ?? 0).toISOString(),
        ...(this.#opts.store.encryptionKeyId && { encryptionKeyId: this.#opts.store.encryptionKeyId(a.id) }),
      })),
    };
  }

  /** Stage a new authority (made here, or the operator's); the old roots stay in the bundle until retire(). */
  rotate(supplied?: AuthorityRecord): Promise<CaStatus> {
    return this.#exclusive(async () => {
      if (this.#authorities.length > 1) {
        throw conflict(`a rotation is already staged (${this.#authorities.length} roots in the bundle); retire the old root first with POST /v1/ca/retire`);
      }
      const record = supplied ?? (await createRootAuthority(this.trustDomain));
      if (this.#authorities.some((a) => a.id === record.id)) throw conflict(`authority ${record.id} is already in the bundle`);
      await this.#commit({ ...this.#state, version: this.#state.version + 1, authorities: [...this.#state.authorities, record], active: record.id });
      this.#opts.log(`ca rotate: new authority ${record.id} (${record.source}) signs new certificates; bundle v${this.#state.version} holds ${this.#authorities.length} roots`);
      return this.status();
    });
  }

  /** Drop every authority but the active one; refused while a leaf they signed may still be valid, unless forced. */
  retire(force = false): Promise<CaStatus> {
    return this.#exclusive(async () => {
      const old = this.#authorities.filter((a) => a !== this.#active);
      if (old.length === 0) throw conflict('nothing to retire: the bundle holds one root');
      const until = Math.max(...old.map((a) => this.#leafHorizon.get(a.id) ?? 0));
      const left = until - Date.now();
      if (left > 0 && !force) {
        throw conflict(
          `certificates signed by the old root may be valid until ${new Date(until).toISOString()} (${Math.ceil(left / 1000)} s from now); ` +
            'retire after that, or pass {"force": true} to retire now (workloads still on an old certificate will be refused until they renew)',
        );
      }
      const active = this.#state.authorities.find((r) => r.id === this.#active.id)!;
      await this.#commit({ ...this.#state, version: this.#state.version + 1, authorities: [active], active: active.id });
      this.#opts.log(`ca retire: ${old.map((a) => a.id).join(', ')} left the bundle; bundle v${this.#state.version} holds 1 root${force && left > 0 ? ' (forced)' : ''}`);
      return this.status();
    });
  }

  async #commit(state: CaState): Promise<void> {
    // Durable first: a crash must never leave workloads holding leaves from an authority the store forgot.
    // With a shared store this is a compare-and-swap: a rotation through another replica meanwhile is a conflict.
    await this.#opts.store.replace(this.#state, state);
    await this.#install(state);
  }

  /**
   * Take a stored state as the one in force: ours just written, or another
   * replica's. Idempotent by version (a replica hears its own writes back).
   */
  async #install(state: CaState): Promise<void> {
    if (state.version <= this.#state.version) return;
    if (state.trustDomain !== this.trustDomain || !state.authorities.some((a) => a.id === state.active)) {
      this.#opts.log(`error ca: ignoring a stored CA state v${state.version} for trust domain "${state.trustDomain}" (active ${state.active})`);
      return;
    }
    const wasActive = this.#active.id;
    const byId = new Map(this.#authorities.map((a) => [a.id, a]));
    // Built before anything is replaced: an authority that fails its checks leaves the state in force untouched.
    const authorities = state.authorities.map((r) => byId.get(r.id) ?? new Authority(r));
    this.#state = state;
    this.#authorities = authorities;
    this.#active = this.#authorities.find((a) => a.id === state.active)!;
    const ids = new Set(state.authorities.map((r) => r.id));
    for (const id of this.#leafHorizon.keys()) if (!ids.has(id)) this.#leafHorizon.delete(id);
    for (const a of this.#authorities) if (!this.#leafHorizon.has(a.id)) this.#leafHorizon.set(a.id, 0);
    if (wasActive !== this.#active.id && ids.has(wasActive) && this.#opts.store.shared) {
      // Other replicas signed with the old authority until they heard of the change, which they all do at
      // about the same time: its leaves may be valid until one full lifetime from now.
      this.#leafHorizon.set(wasActive, Math.max(this.#leafHorizon.get(wasActive) ?? 0, Date.now() + this.certTtlMs));
    }
    await this.#writeBundleFile();
    this.#changes.emit(this.bundle);
  }

  async #writeBundleFile(): Promise<void> {
    const file = this.#opts.bundleFile;
    if (!file) return;
    const pem = this.bundle.roots.join('');
    // Written only when it differs: a restart rewrites nothing, so it works on a full disk, and the file's
    // mtime says when the bundle last changed.
    const current = await readFile(file, 'utf8').catch(() => undefined);
    if (current !== pem) await writeFileAtomic(file, pem);
    // Public material: world-readable, so any process of the host can verify the control plane with it.
    if (((await stat(file)).mode & 0o777) !== 0o644) await chmod(file, 0o644);
  }

  /** Stop following changes from other replicas. */
  close(): void {
    this.#unsubscribe?.();
    this.#unsubscribe = undefined;
    this.#changes.clear();
  }

  #exclusive<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.#queue.then(fn, fn);
    this.#queue = run.catch(() => {});
    return run;
  }
}
