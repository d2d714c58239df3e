/**
 * Bearer tokens. One admin token (configuration writes, tokens, CA
 * operations), and join tokens, each bound to one service identity
 * (namespace/name): a workload presents its join token to register itself,
 * watch, and obtain its certificate. Join tokens come from the API (stored as
 * digests) or from the control plane's configuration (pre-provisioned by a
 * deployment, revoked by removing them from it).
 *
 * Every comparison is between SHA-256 digests with timingSafeEqual, so the
 * time taken says nothing about how much of a guess was right.
 */
import { randomBytes } from 'node:crypto';
import type { TokenResponse } from '../../config/wire.js';
import type { Disposer } from '../../core/events.js';
import { badRequest, notFound, unauthenticated } from '../http/http-error.js';
import { ADMIN, type Principal } from './principal.js';
import { digest, newSecret, sameDigest } from './secret.js';
import type { StoredToken, TokenStore } from './token-store.js';

export interface ConfiguredToken {
  service: string;
  namespace: string;
  secret: string;
}

export interface TokenRow {
  id: string;
  kind: 'join' | 'viewer';
  /** null for a viewer token. */
  service: string | null;
  namespace: string | null;
  createdAt: string | null;
  expiresAt: string | null;
  source: 'api' | 'config';
}

interface Entry {
  row: TokenRow;
  digest: Buffer;
}

function rowOf(t: StoredToken): TokenRow {
  if (t.kind === 'viewer') return { id: t.id, kind: 'viewer', service: null, namespace: null, createdAt: t.createdAt, expiresAt: t.expiresAt, source: 'api' };
  return { id: t.id, kind: 'join', service: t.service, namespace: t.namespace, createdAt: t.createdAt, expiresAt: t.expiresAt, source: 'api' };
}

/** `jt_` join tokens, `vt_` viewer tokens: `<id>.<secret>`. */
const API_TOKEN = /^((?:jt|vt)_[0-9a-f]{16})\.([A-Za-z0-9_-]{43})$/;
const MAX_TOKEN_LENGTH = 512;

export interface TokensOptions {
  store: TokenStore;
  /**
   * The admin token, or (replicas) a function answering the SHA-256 digest of
   * the mesh's admin token as the shared store holds it now; undefined for an
   * insecure control plane, where every caller is admin.
   */
  admin: string | (() => Buffer) | undefined;
  configured: readonly ConfiguredToken[];
}

export class Tokens {
  readonly secure: boolean;
  #store: TokenStore;
  #admin: () => Buffer;
  #configured: Entry[];
  /** Writes run one at a time, each from the state the previous one left. */
  #queue: Promise<unknown> = Promise.resolve();

  private constructor(opts: TokensOptions) {
    this.secure = opts.admin !== undefined;
    this.#store = opts.store;
    if (typeof opts.admin === 'function') this.#admin = opts.admin;
    else {
      const d = digest(opts.admin ?? '');
      this.#admin = () => d;
    }
    this.#configured = opts.configured.map((c) => {
      const d = digest(c.secret);
      return { row: { id: `cfg_${d.toString('hex').slice(0, 12)}`, kind: 'join', service: c.service, namespace: c.namespace, createdAt: null, expiresAt: null, source: 'config' }, digest: d };
    });
  }

  static async open(opts: TokensOptions): Promise<Tokens> {
    if (opts.admin !== undefined) await opts.store.load();
    return new Tokens(opts);
  }

  /** The caller behind an Authorization header; throws 401 when there is none or it is not valid. */
  authenticate(header: string | undefined): Principal {
    if (!this.secure) return ADMIN;
    if (header === undefined || header === '') throw unauthenticated('this endpoint needs a token: send "Authorization: Bearer <token>" (a join token, or the admin token)');
    const m = /^Bearer +(\S+)\s*$/i.exec(header);
    if (!m || m[1]!.length > MAX_TOKEN_LENGTH) throw unauthenticated('the Authorization header must be "Bearer <token>"');
    const presented = m[1]!;
    const d = digest(presented);
    if (sameDigest(d, this.#admin())) return ADMIN;
    const api = API_TOKEN.exec(presented);
    if (api) {
      const t = this.#store.get(api[1]!);
      if (t && sameDigest(digest(api[2]!), Buffer.from(t.digest, 'hex'))) {
        if (t.expiresAt !== null && Date.parse(t.expiresAt) <= Date.now()) throw unauthenticated(`${t.kind === 'viewer' ? 'viewer' : 'join'} token ${t.id} has expired`);
        if (t.kind === 'viewer') return { kind: 'viewer', tokenId: t.id };
        return { kind: 'join', tokenId: t.id, service: t.service, namespace: t.namespace };
      }
    } else {
      // Configured tokens have no id to look up: compare with every one, without stopping at a match.
      let found: Entry | undefined;
      for (const e of this.#configured) if (sameDigest(d, e.digest) && !found) found = e;
      if (found) return { kind: 'join', tokenId: found.row.id, service: found.row.service!, namespace: found.row.namespace! };
    }
    throw unauthenticated('the token is not valid (unknown, revoked, or mistyped)');
  }

  /** A new join token; its secret is in the answer and nowhere else. */
  create(service: string, namespace: string, ttlSeconds?: number): Promise<TokenResponse> {
    return this.#make('jt', ttlSeconds, (base) => ({ ...base, service, namespace }), { kind: 'join', service, namespace });
  }

  /** A new viewer token: read-only, no identity (the dashboard's link). */
  createViewer(ttlSeconds?: number): Promise<TokenResponse> {
    return this.#make('vt', ttlSeconds, (base) => ({ ...base, kind: 'viewer' }), { kind: 'viewer' });
  }

  #make(
    prefix: 'jt' | 'vt',
    ttlSeconds: number | undefined,
    record: (base: { id: string; digest: string; createdAt: string; expiresAt: string | null }) => StoredToken,
    answer: Pick<TokenResponse, 'kind' | 'service' | 'namespace'>,
  ): Promise<TokenResponse> {
    return this.#exclusive(async () => {
      const id = `${prefix}_${randomBytes(8).toString('hex')}`;
      const secret = newSecret();
      const now = new Date();
      const stored = record({
        id,
        digest: digest(secret).toString('hex'),
        createdAt: now.toISOString(),
        expiresAt: ttlSeconds === undefined ? null : new Date(now.getTime() + ttlSeconds * 1000).toISOString(),
      });
      // Durable before it is handed out: a token the caller was given must survive a restart.
      await this.#store.add(stored);
      return { id, token: `${id}.${secret}`, ...answer, expiresAt: stored.expiresAt };
    });
  }

  /**
   * Whether a token that authenticated earlier would still: not revoked, not
   * expired. The watch hub asks this of every open stream on each heartbeat.
   */
  stillValid(tokenId: string): boolean {
    if (this.#configured.some((e) => e.row.id === tokenId)) return true;
    const t = this.#store.get(tokenId);
    return t !== undefined && (t.expiresAt === null || Date.parse(t.expiresAt) > Date.now());
  }

  /** A token was revoked (through this replica or, with etcd, another one). */
  onRevoked(listener: (tokenId: string) => void): Disposer {
    return this.#store.onRemoved(listener);
  }

  /** Every join token (never a secret), expired ones included until they are revoked. */
  list(): TokenRow[] {
    return [...this.#configured.map((e) => e.row), ...this.#store.list().map(rowOf)];
  }

  revoke(id: string): Promise<TokenRow> {
    return this.#exclusive(async () => {
      if (this.#configured.some((e) => e.row.id === id)) {
        throw badRequest(`join token ${id} comes from the control plane's configuration (--join-token-file, --join-tokens-file or HYPHAE_JOIN_TOKENS); remove it there and restart`);
      }
      const removed = await this.#store.remove(id);
      if (!removed) throw notFound(`no token ${id.slice(0, 40)}`);
      return rowOf(removed);
    });
  }

  #exclusive<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.#queue.then(fn, fn);
    this.#queue = run.catch(() => {});
    return run;
  }
}
