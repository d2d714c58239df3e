/**
 * Peerings between this control plane and others, both ways (docs/usage.md, "Peering").
 *
 * Accepting side (dc2): `makeToken()` stores a peering for dc1 (the secret's digest, and the gateway
 * service in the gateway model) and hands out the token; dc1's link is a watch stream of this control
 * plane's watch hub, following the key `Peer/dc1`, opened only by a client certificate of dc1's control
 * plane verified against this trust bundle (./link-auth.ts) together with the token's secret, and whose snapshot is what dc2 exports
 * (./exports.ts). Deleting the peering ends the open streams at once and refuses the next ones.
 *
 * Dialling side (dc1): `peer()` stores the token's peering and starts a PeerLink; each `exports` event
 * replaces that peer's imports (./imports.ts), which the snapshot builder merges into the services this
 * cluster's watchers follow, tagged with the peer's cluster name. The last update of each peer is kept on
 * disk (./import-cache.ts) and applied again at start, so a restart while a peer is unreachable keeps
 * serving what it exported.
 */
import { randomBytes } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import { clusterNameSchema } from '../../config/names.js';
import { ErrorCode, MeshError } from '../../core/errors.js';
import { digest, newSecret, sameDigest } from '../auth/secret.js';
import { badRequest, conflict, forbidden, notFound, unauthenticated } from '../http/http-error.js';
import type { EventLog } from '../log.js';
import type { Registry } from '../registry/registry.js';
import type { Store, StoreChange } from '../store/store.js';
import { exportSnapshot, peerRef, type ExportSnapshot, type Held } from './exports.js';
import { ImportCache } from './import-cache.js';
import { Imports } from './imports.js';
import { MAX_PEERINGS } from './limits.js';
import { linkIdentityProblem } from './link-auth.js';
import type { ClientCertificate } from './link-certificate.js';
import { PeerLink, type LinkState } from './peer-link.js';
import { PeeringStore, type AcceptedPeering } from './peering-store.js';
import { decodePeeringToken, encodePeeringToken } from './token.js';

/** What the accepting side needs of the watch hub. */
export interface PeerStreams {
  notify(key: string): void;
  closeToken(tokenId: string, why: string): number;
}

export interface PeeringOptions {
  /** This control plane's cluster name. */
  cluster: string;
  dataDir: string;
  store: Store;
  registry: Registry;
  log: EventLog;
  /** Imported instances of these services (`namespace/name`) changed: their snapshots must be pushed. */
  importsChanged(services: readonly string[]): void;
  /** The restart hold: exports are not sent while an exported service waits for its instances to come back. */
  held?: Held;
  /** The trust domain a peer's client certificate must name; without it (no CA) no link is accepted. */
  trustDomain?: string;
  /** This control plane's client certificate for the links it dials (./link-certificate.ts). */
  clientCertificate?: () => Promise<ClientCertificate>;
  /** Reconnect pacing of the links this side dials (tests shorten it). */
  backoff?: { baseMs: number; maxMs: number };
}

export interface PeeringRow {
  peer: string;
  /** `exporting`: this cluster made the token, the peer imports from it; `importing`: this cluster used one. */
  direction: 'exporting' | 'importing';
  createdAt: string;
  /** importing: the link's state; exporting: `connected` while the peer holds a stream open, else `idle`. */
  state: LinkState | 'idle';
  lastError?: string;
  /** importing: when the last update was applied. */
  lastSyncAt?: string;
  /**
   * importing: when the imports were last known current (the last update, or the link's last event or
   * heartbeat after it: the peer pushes every change on the link), and how long ago. Fail-static: while the
   * link is down the imports are kept and age from its last sign of life.
   */
  confirmedAt?: string;
  ageSeconds?: number;
  importedServices?: string[];
  importedInstances?: number;
  /** exporting, gateway model: the service whose instances stand in for every exported one. */
  gateway?: string;
  streams?: number;
}

export interface TokenRequest {
  peer: string;
  /** This control plane's API URLs as the peer reaches them. */
  addresses: string[];
  /** The roots this control plane's HTTPS certificate chains to. */
  ca: string;
  gateway?: { name: string; namespace: string };
}

/** What an importing peer's imports are known to be, and when (ms since the epoch). */
interface ImportClock {
  /** The last update applied. */
  syncedAt: number;
  /** Last known current: the update, then each sign of life of the link that delivered it. */
  confirmedAt: number;
  /** The last confirmation written to the kept copy's modification time. */
  touchedAt: number;
}

/** The hub's token id of a peer's stream: never a join or viewer token id (those are jt_/vt_/cfg_). */
const STREAM_TOKEN_PREFIX = 'peer:';
const CREDENTIAL = /^Bearer +([a-z0-9-]{1,63})\.([A-Za-z0-9_-]{43})\s*$/;

export class Peering {
  readonly imports = new Imports();
  #opts: PeeringOptions;
  #store: PeeringStore;
  #cache: ImportCache;
  #links = new Map<string, PeerLink>();
  /** Each importing peer's clock, from its first update (applied live or from the kept copy). */
  #clocks = new Map<string, ImportClock>();
  #streams = new Map<string, number>();
  #hub: PeerStreams | undefined;
  #closed = false;

  private constructor(opts: PeeringOptions, store: PeeringStore, cache: ImportCache) {
    this.#opts = opts;
    this.#store = store;
    this.#cache = cache;
  }

  static async open(opts: PeeringOptions): Promise<Peering> {
    const store = new PeeringStore(opts.dataDir);
    await store.load();
    const peering = new Peering(opts, store, new ImportCache(opts.dataDir, (m) => opts.log(`warn ${m}`)));
    for (const p of store.listDialed()) await peering.#restore(p.peer);
    return peering;
  }

  /** Apply what `peer` last sent before this start, checked as a live update; its age counts from when it was last known current. */
  async #restore(peer: string): Promise<void> {
    const kept = await this.#cache.load(peer);
    if (kept === undefined) return;
    try {
      const services = this.imports.apply(peer, kept.exports);
      this.#clocks.set(peer, { syncedAt: kept.syncedAt, confirmedAt: kept.confirmedAt, touchedAt: kept.confirmedAt });
      this.#opts.log(
        `imports of ${peer} restored from ${this.#cache.dir}: ${services.length} services, from ${new Date(kept.syncedAt).toISOString()}, current as of ${new Date(kept.confirmedAt).toISOString()}`,
      );
    } catch (err) {
      this.#opts.log(`warn imports of ${peer} on disk not used: ${(err as Error).message}`);
    }
  }

  /** Start the links of stored peerings; `hub` carries the streams of the peers that import from us. */
  start(hub: PeerStreams): void {
    this.#hub = hub;
    for (const p of this.#store.listDialed()) this.#startLink(p.peer);
  }

  // ------------------------------------------------------------ exporting side (dc2)

  async makeToken(req: TokenRequest): Promise<string> {
    this.#checkPeerName(req.peer);
    if (!this.#store.accepted(req.peer) && this.#store.listAccepted().length >= MAX_PEERINGS) throw conflict(`this control plane already accepts ${MAX_PEERINGS} peerings, the most it may`);
    const secret = newSecret();
    const token = encodePeeringToken({ cluster: this.#opts.cluster, peer: req.peer, addresses: req.addresses, ca: req.ca, secret });
    const accepted: AcceptedPeering = { peer: req.peer, digest: digest(secret).toString('hex'), createdAt: new Date().toISOString(), ...(req.gateway ? { gateway: req.gateway } : {}) };
    await this.#store.putAccepted(accepted);
    // A new token replaces the old one: streams opened with the old secret end.
    this.#hub?.closeToken(streamToken(req.peer), `peering token for ${req.peer} replaced`);
    this.#opts.log(`peering token made for ${req.peer}${req.gateway ? ` (gateway ${req.gateway.namespace}/${req.gateway.name})` : ''}`);
    return token;
  }

  /**
   * The peer behind a link: 401 unless it presents a client certificate verified against this trust
   * bundle and an accepted peering's secret, 403 unless the certificate names that peer's control plane.
   */
  authenticateLink(req: IncomingMessage): string {
    const unverified = linkIdentityProblem(req.socket, this.#opts.trustDomain, undefined);
    if (unverified) throw unauthenticated(unverified);
    const header = req.headers.authorization;
    const m = header === undefined ? null : CREDENTIAL.exec(header);
    if (!m) throw unauthenticated('a peering link needs "Authorization: Bearer <peer>.<secret>" from a peering token');
    const accepted = this.#store.accepted(m[1]!);
    // Compare a digest either way, so the answer takes as long for an unknown peer as for a wrong secret.
    const ok = sameDigest(digest(m[2]!), accepted ? Buffer.from(accepted.digest, 'hex') : randomBytes(32));
    if (!accepted || !ok) throw unauthenticated('the peering credential is not valid (no such peering, deleted, or replaced by a newer token)');
    const mismatch = linkIdentityProblem(req.socket, this.#opts.trustDomain, accepted.peer);
    if (mismatch) throw forbidden(mismatch);
    return accepted.peer;
  }

  /** The hub's token id for a peer's stream. */
  streamToken(peer: string): string {
    return streamToken(peer);
  }

  /** For the hub's heartbeat check: undefined when `tokenId` is no peer stream's. */
  streamValid(tokenId: string): boolean | undefined {
    if (!tokenId.startsWith(STREAM_TOKEN_PREFIX)) return undefined;
    return this.#store.accepted(tokenId.slice(STREAM_TOKEN_PREFIX.length)) !== undefined;
  }

  /** Count a peer's open stream until it closes (for `hyphae cluster peers`). */
  streamOpened(peer: string, closed: (listener: () => void) => void): void {
    this.#streams.set(peer, (this.#streams.get(peer) ?? 0) + 1);
    closed(() => {
      const left = (this.#streams.get(peer) ?? 1) - 1;
      if (left > 0) this.#streams.set(peer, left);
      else this.#streams.delete(peer);
    });
  }

  /** What `peer` is sent now; undefined while held after a restart. */
  exportsFor(peer: string): ExportSnapshot | undefined {
    return exportSnapshot(this.#opts.cluster, this.#store.accepted(peer), this.#opts.store, this.#opts.registry, this.#opts.held);
  }

  /** A local service's instances changed: tell the peers that see it (an exported service, or a gateway service). */
  localChanged(service: string): void {
    const accepted = this.#store.listAccepted();
    if (accepted.length === 0) return;
    const [namespace, name] = service.split('/') as [string, string];
    const exported = this.#opts.store.get({ kind: 'ServiceExport', namespace, name }) !== undefined;
    for (const p of accepted) {
      if (exported || (p.gateway && p.gateway.namespace === namespace && p.gateway.name === name)) this.#hub?.notify(peerRef(p.peer));
    }
  }

  /** The exports changed: every peer's view did. */
  configChanged(change: StoreChange): void {
    if (!change.changes.some((c) => c.kind === 'ServiceExport')) return;
    for (const p of this.#store.listAccepted()) this.#hub?.notify(peerRef(p.peer));
  }

  // ------------------------------------------------------------ importing side (dc1)

  async peer(tokenText: string): Promise<PeeringRow> {
    const token = decodePeeringToken(tokenText);
    if (token.cluster === this.#opts.cluster) {
      throw new MeshError(ErrorCode.PEERING_TOKEN_INVALID, `the token was made by cluster "${token.cluster}", this very cluster: a cluster does not peer with itself`);
    }
    if (token.peer !== this.#opts.cluster) {
      throw new MeshError(
        ErrorCode.PEERING_TOKEN_INVALID,
        `the token was made for cluster "${token.peer}", not for this one ("${this.#opts.cluster}"): ask ${token.cluster} for a token with --peer ${this.#opts.cluster}`,
      );
    }
    if (!this.#store.dialed(token.cluster) && this.#store.listDialed().length >= MAX_PEERINGS) throw conflict(`this control plane already imports from ${MAX_PEERINGS} peers, the most it may`);
    await this.#store.putDialed({ peer: token.cluster, addresses: token.addresses, ca: token.ca, secret: token.secret, createdAt: new Date().toISOString() });
    await this.#links.get(token.cluster)?.close();
    this.#links.delete(token.cluster);
    this.#startLink(token.cluster);
    this.#opts.log(`peering with ${token.cluster} stored; dialling ${token.addresses.join(',')}`);
    return this.#row(token.cluster, 'importing')!;
  }

  #startLink(peer: string): void {
    const peering = this.#store.dialed(peer);
    if (!peering || this.#closed || !this.#hub) return;
    const link: PeerLink = new PeerLink({
      peering,
      self: this.#opts.cluster,
      log: this.#opts.log,
      ...(this.#opts.clientCertificate ? { clientCertificate: this.#opts.clientCertificate } : {}),
      ...(this.#opts.backoff ? { backoff: this.#opts.backoff } : {}),
      onEvent: (event) => {
        if (event.event !== 'exports') return;
        try {
          const changed = this.imports.apply(peer, parseJson(peer, event.data));
          const now = Date.now();
          this.#clocks.set(peer, { syncedAt: now, confirmedAt: now, touchedAt: now });
          // Every update is kept, changed or not: the age a restart shows counts from the last one.
          void this.#cache.save(peer, event.data, now);
          if (changed.length > 0) this.#opts.importsChanged(changed);
        } catch (err) {
          this.#opts.log(`error ${(err as Error).message}`);
          throw err;
        }
      },
      onAlive: (at) => {
        // Only after an update on this stream (peer-link.ts): the clock exists.
        const clock = this.#clocks.get(peer);
        if (!clock) return;
        clock.confirmedAt = at;
        // At most one metadata write a second per peer, however chatty the stream.
        if (at - clock.touchedAt < 1000) return;
        clock.touchedAt = at;
        void this.#cache.touch(peer, at);
      },
    });
    this.#links.set(peer, link);
  }

  // ------------------------------------------------------------ both

  /** Delete the peering with `peer`, both ways: revoke what it was given, stop importing and forget what it sent. */
  async remove(peer: string): Promise<{ exporting: boolean; importing: boolean }> {
    this.#checkName(peer);
    const removed = await this.#store.remove(peer);
    if (!removed.accepted && !removed.dialed) throw notFound(`no peering with ${peer}`);
    if (removed.accepted) {
      // The hub's ping, which checks each stream's credential, may have closed the peer's streams while the store
      // removed the peering (it logs them): this closes any left, and says so only when there were.
      const n = this.#hub?.closeToken(streamToken(peer), `peering with ${peer} deleted`) ?? 0;
      this.#opts.log(`peering with ${peer} revoked${n > 0 ? ` (${n} open stream${n === 1 ? '' : 's'} closed)` : ''}`);
    }
    if (removed.dialed) {
      await this.#links.get(peer)?.close();
      this.#links.delete(peer);
      this.#clocks.delete(peer);
      const changed = this.imports.drop(peer);
      await this.#cache.save(peer, null);
      if (changed.length > 0) this.#opts.importsChanged(changed);
      this.#opts.log(`peering with ${peer} deleted: ${changed.length} imported services forgotten`);
    }
    return { exporting: removed.accepted, importing: removed.dialed };
  }

  list(): PeeringRow[] {
    const rows: PeeringRow[] = [];
    for (const p of this.#store.listAccepted()) rows.push(this.#row(p.peer, 'exporting')!);
    for (const p of this.#store.listDialed()) rows.push(this.#row(p.peer, 'importing')!);
    return rows;
  }

  #row(peer: string, direction: PeeringRow['direction']): PeeringRow | undefined {
    if (direction === 'exporting') {
      const p = this.#store.accepted(peer);
      if (!p) return undefined;
      const streams = this.#streams.get(peer) ?? 0;
      return { peer, direction, createdAt: p.createdAt, state: streams > 0 ? 'connected' : 'idle', streams, ...(p.gateway ? { gateway: `${p.gateway.namespace}/${p.gateway.name}` } : {}) };
    }
    const p = this.#store.dialed(peer);
    if (!p) return undefined;
    const link = this.#links.get(peer);
    const clock = this.#clocks.get(peer);
    return {
      peer,
      direction,
      createdAt: p.createdAt,
      state: link?.state ?? 'disconnected',
      ...(link?.lastError ? { lastError: link.lastError } : {}),
      ...(clock
        ? {
            lastSyncAt: new Date(clock.syncedAt).toISOString(),
            confirmedAt: new Date(clock.confirmedAt).toISOString(),
            ageSeconds: Math.round((Date.now() - clock.confirmedAt) / 100) / 10,
          }
        : {}),
      importedServices: this.imports.servicesOf(peer),
      importedInstances: this.imports.instanceCount(peer),
    };
  }

  #checkPeerName(peer: string): void {
    this.#checkName(peer);
    if (peer === this.#opts.cluster) throw badRequest(`"${peer}" is this cluster's own name: a cluster does not peer with itself`);
  }

  #checkName(peer: string): void {
    if (!clusterNameSchema.safeParse(peer).success) throw badRequest(`"${peer.slice(0, 63)}" is not a cluster name (a DNS label: lower-case letters, digits, '-')`);
  }

  async close(): Promise<void> {
    this.#closed = true;
    await Promise.all([...this.#links.values()].map((l) => l.close()));
    this.#links.clear();
    await this.#cache.flushed();
  }
}

function parseJson(peer: string, text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    throw new MeshError(ErrorCode.PEER_DATA_REJECTED, `update from peer ${peer} refused, imports kept as they were: it is not JSON`);
  }
}

function streamToken(peer: string): string {
  return `${STREAM_TOKEN_PREFIX}${peer}`;
}
