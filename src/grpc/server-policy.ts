/**
 * What a meshed grpc-js server's interceptor knows between calls: whether the
 * mesh has mTLS (and its trust domain and inbound mode), the AuthorizationPolicies
 * of this service compiled as the HTTP servers compile them, and the mesh's
 * logger and telemetry. Made once per `meshGrpcServerOptions(mesh)`.
 *
 * Until the mesh has started and the policies are known, calls wait (at most
 * POLICY_WAIT_MS, then UNAVAILABLE), as the HTTP servers hold requests:
 * serving a fresh instance without its DENY policies would fail open.
 */
import type { Metadata } from '@grpc/grpc-js';
import type { AuthorizationPolicyResource } from '../config/resources.js';
import type { Logger } from '../core/logger.js';
import type { AdapterHost } from '../mesh/adapter-host.js';
import { POLICY_WAIT_MS } from '../server/authz/authorization.js';
import { DEFAULT_SEMICOLONS, normalizeTarget } from '../server/authz/normalize-path.js';
import { ALLOW_ALL, compilePolicies, type Denial, type PolicySet } from '../server/authz/policy-set.js';
import type { PeerIdentity } from '../server/peer.js';
import type { MeshTelemetry } from '../telemetry/mesh-telemetry.js';
import type { MeshSecurity } from '../mesh/security.js';

/** A refusal of the method path itself, before any policy (a path the HTTP servers would answer 400). */
export interface BadPath {
  readonly badPath: string;
}

/** Calls held at once while the policies are on their way; more are refused at once. */
const MAX_HELD = 1_000;

export class ServerPolicy {
  /** The mesh whose identity and policies this server's calls are checked against. */
  readonly host: AdapterHost;
  readonly logger: Logger;
  readonly telemetry: MeshTelemetry | undefined;
  /** undefined while the mesh is starting; null for a mesh without mTLS. */
  #security: MeshSecurity | null | undefined = undefined;
  #set: PolicySet | undefined;
  #failed: Error | undefined;
  #ready: Promise<void> | undefined;
  #wake: (() => void) | undefined;
  #dispose: (() => void) | undefined;
  #held = 0;

  constructor(host: AdapterHost) {
    this.host = host;
    this.logger = host.logger;
    this.telemetry = host.telemetry;
    host.started().then(
      (rt) => {
        this.#security = rt.security ?? null;
        this.#check();
      },
      (err: unknown) => {
        this.#failed = err instanceof Error ? err : new Error(String(err));
        this.#check();
      },
    );
    const source = host.policies();
    if (source === undefined) this.#set = ALLOW_ALL;
    else {
      this.#dispose = source.subscribe((p) => this.#update(p));
      try {
        host.onClose(() => {
          this.close();
          return Promise.resolve();
        });
      } catch {
        // The mesh is closing already: its calls are refused anyway, and close() stops following.
        this.close();
      }
    }
  }

  /** Started and the policies known: calls go through at once (the usual case, no promise). */
  get ready(): boolean {
    return this.#security !== undefined && this.#set !== undefined;
  }

  /** Why no call can be served (the mesh failed to start), if so. */
  get failed(): Error | undefined {
    return this.#failed;
  }

  /**
   * Resolves when ready or failed, or after POLICY_WAIT_MS (the caller looks again); undefined when
   * MAX_HELD calls wait already (the caller is refused at once: no unbounded queue, as on the HTTP side).
   */
  whenReady(): Promise<void> | undefined {
    if (this.#held >= MAX_HELD) return undefined;
    this.#held++;
    this.#ready ??= new Promise<void>((resolve) => (this.#wake = resolve));
    let timer: NodeJS.Timeout | undefined;
    const waited = new Promise<void>((resolve) => {
      timer = setTimeout(resolve, POLICY_WAIT_MS);
      timer.unref();
    });
    return Promise.race([this.#ready, waited]).finally(() => {
      this.#held--;
      clearTimeout(timer);
    });
  }

  /** The trust domain callers must be in, or undefined for a mesh without mTLS. */
  trustDomain(): string | undefined {
    return this.#security ? this.#security.tls.trustDomain : undefined;
  }

  /** A caller without a certificate is refused unless the service's mode lets plaintext in. */
  requiresPeer(): boolean {
    return this.#security ? this.#security.inbound.mode() === 'STRICT' : false;
  }

  /** undefined to let the call through; the method path is matched as the HTTP rules match `POST <path>`. */
  authorize(path: string, peer: PeerIdentity | undefined, metadata: Metadata): Denial | BadPath | undefined {
    const set = this.#set!;
    if (set.size === 0) return undefined;
    const normal = normalizeTarget(path, DEFAULT_SEMICOLONS);
    if (typeof normal !== 'string') return { badPath: normal.refused };
    // grpc-js routes by the exact path, so a query part can only come from a path registered with one.
    const q = normal.indexOf('?');
    return set.check('POST', q < 0 ? normal : normal.slice(0, q), peer, rawHeaders(metadata));
  }

  /** Stop following the policies (the mesh closed). */
  close(): void {
    this.#dispose?.();
    this.#dispose = undefined;
  }

  #update(policies: readonly AuthorizationPolicyResource[]): void {
    try {
      this.#set = compilePolicies(policies, DEFAULT_SEMICOLONS);
    } catch (err) {
      // As the HTTP servers do: the last good set stays; before the first one, calls keep waiting (fail closed).
      this.logger.error('hyphae/grpc: authorization policies could not be compiled; the previous ones stay in force', { error: String(err) });
      return;
    }
    this.#check();
  }

  #check(): void {
    if ((this.ready || this.#failed !== undefined) && this.#wake !== undefined) {
      this.#wake();
      this.#wake = undefined;
    }
  }
}

/** Metadata as the header rules read `rawHeaders`: name, value, name, value (text values only). */
function rawHeaders(metadata: Metadata): string[] {
  const out: string[] = [];
  const map = metadata.toHttp2Headers() as Record<string, string | string[]>;
  for (const k in map) {
    if (k.endsWith('-bin')) continue;
    const v = map[k]!;
    if (typeof v === 'string') out.push(k, v);
    else for (const x of v) out.push(k, x);
  }
  return out;
}
