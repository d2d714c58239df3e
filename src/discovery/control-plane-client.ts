/**
 * HTTP client for the control plane's /v1 API. It holds the list of control
 * plane addresses and moves to the next one when one cannot be reached, or
 * answers 502/503/504 (a replica that is up but cannot reach its store), so a
 * replicated control plane (several URLs) is followed without extra code.
 */
import { Agent, buildConnector, type Dispatcher } from 'undici';
import { fullJitter, sleep } from '../core/backoff.js';
import { ErrorCode, MeshError } from '../core/errors.js';
import { errorKind } from '../core/classifier.js';
import { Listeners, type Disposer } from '../core/events.js';
import { clusterFromHeader, CLUSTER_HEADER } from '../config/cluster-header.js';
import { certificateResponseSchema, trustBundleSchema, type ApiErrorBody, type CertificateResponse, type TrustBundle, type WatchUpdate } from '../config/wire.js';
import type { RegisterRequest, RegisterResponse } from '../config/instance.js';

export interface ControlPlaneClientOptions {
  /** Per-request timeout for API calls (not for the watch stream). */
  timeoutMs?: number;
  /** Sent as `Authorization: Bearer <token>` on every call (the workload's join token). */
  token?: string;
  /** PEM of the CA(s) that sign the control plane's HTTPS certificate (https:// URLs). */
  ca?: string | readonly string[];
  /**
   * Runs each request to the control plane: the mesh's telemetry passes one that suppresses tracing, so
   * an HTTP client instrumentation (instrumentation-undici sees every undici) does not trace the mesh's
   * own heartbeats, watch stream and stats as application traffic. Discovery knows nothing of tracing.
   */
  run?: <T>(fn: () => T) => T;
}

export interface HealthBody {
  /** 'ok', or 'unavailable' when the control plane cannot reach its store (it answers 503 then). */
  status: string;
  revision: number;
  /** The store's state: `{ ok, store: 'etcd', reachable, watch, ... }`. */
  store?: { ok: boolean; error?: string; [detail: string]: unknown };
}

/** Answers that say "this replica cannot serve now, another may": worth trying the next address. */
const UNAVAILABLE = new Set([502, 503, 504]);

export class ControlPlaneClient {
  readonly urls: readonly string[];
  #agent: Agent;
  #current = 0;
  #timeoutMs: number;
  #headers: Record<string, string>;
  #baseCa: string[];
  #connector: buildConnector.connector;
  #run: <T>(fn: () => T) => T;
  #cluster: string | undefined;
  #clusterChanges = new Listeners<string>();

  constructor(urls: readonly string[], options: ControlPlaneClientOptions = {}) {
    if (urls.length === 0) throw new MeshError(ErrorCode.INVALID_OPTIONS, 'at least one control plane URL is needed');
    this.urls = urls.map((u) => u.replace(/\/+$/, ''));
    this.#run = options.run ?? ((fn) => fn());
    this.#timeoutMs = options.timeoutMs ?? 2000;
    this.#headers = options.token ? { authorization: `Bearer ${options.token}` } : {};
    this.#baseCa = options.ca === undefined ? [] : typeof options.ca === 'string' ? [options.ca] : [...options.ca];
    this.#connector = this.#buildConnector([]);
    // A dedicated agent: control-plane traffic must never queue behind application traffic.
    // The connector is looked up per connection, so trusting a new root (setTrustedRoots) needs no new agent.
    this.#agent = new Agent({ connections: 4, keepAliveTimeout: 30_000, connect: (opts, cb) => this.#connector(opts, cb) });
  }

  /**
   * Also trust these roots for the control plane's certificate: the mesh's
   * trust bundle, so that after a root rotation (the control plane's
   * certificate moves to the new root when the old one retires) a workload
   * whose CA file predates the rotation still reaches it.
   */
  setTrustedRoots(roots: readonly string[]): void {
    this.#connector = this.#buildConnector(roots);
  }

  #buildConnector(extra: readonly string[]): buildConnector.connector {
    const ca = [...this.#baseCa, ...extra];
    return buildConnector({ timeout: this.#timeoutMs, ...(ca.length > 0 ? { ca } : {}) });
  }

  /**
   * The cluster of the control plane this client talks to, as its answers name it (the `hyphae-cluster`
   * header, config/cluster-header.ts); undefined until one answers, and for ever with a control plane
   * older than the header. An answer without the header (an older replica during an upgrade) leaves the
   * name learnt: replicas of one control plane share it.
   */
  get cluster(): string | undefined {
    return this.#cluster;
  }

  /** Hears the cluster when it is first learnt and whenever an answer names another one. */
  onCluster(listener: (cluster: string) => void): Disposer {
    return this.#clusterChanges.on(listener);
  }

  /**
   * The name an earlier run learnt (the discovery cache's), for a start while the control plane cannot be
   * reached: nothing when a name is known already. The first answer still decides.
   */
  assumeCluster(cluster: string): void {
    if (this.#cluster !== undefined) return;
    this.#cluster = cluster;
    this.#clusterChanges.emit(cluster);
  }

  /** Every answer of the control plane passes here: a string compare unless the name changes. */
  #noteCluster(headers: Dispatcher.ResponseData['headers']): void {
    const value = headers[CLUSTER_HEADER];
    if (value === undefined || value === this.#cluster) return;
    const cluster = clusterFromHeader(value);
    if (cluster === undefined) return;
    this.#cluster = cluster;
    this.#clusterChanges.emit(cluster);
  }

  /** The mesh's trust bundle (needs no token). */
  async trustBundle(): Promise<TrustBundle> {
    const { body } = await this.call('GET', '/v1/trust-bundle');
    const parsed = trustBundleSchema.safeParse(body);
    if (!parsed.success) throw new MeshError(ErrorCode.CONTROL_PLANE_REJECTED, `the control plane sent a malformed trust bundle: ${parsed.error.message}`);
    return parsed.data;
  }

  /** Have the CA sign a CSR for this workload's identity (the join token says which). */
  async signCertificate(csr: string): Promise<CertificateResponse> {
    const { body } = await this.call('POST', '/v1/certificates', { csr });
    const parsed = certificateResponseSchema.safeParse(body);
    if (!parsed.success) throw new MeshError(ErrorCode.CONTROL_PLANE_REJECTED, `the control plane sent a malformed certificate: ${parsed.error.message}`);
    return parsed.data;
  }

  /** The URL that answered last; the watch stream starts there. */
  get currentUrl(): string {
    return this.urls[this.#current]!;
  }

  /**
   * Move to the next control plane (after a failed stream or call). With
   * `from`, only if the client is still on that one: the watch stream and the
   * heartbeats share this position, and both failing over from the same bad
   * replica must not move the client twice (back onto it).
   */
  rotate(from?: string): string {
    if (from === undefined || from === this.currentUrl) this.#current = (this.#current + 1) % this.urls.length;
    return this.currentUrl;
  }

  /**
   * A healthy control plane's health, and the client moves to it. When every
   * one that answers says it cannot reach its store, the last such answer is
   * returned rather than thrown: a degraded control plane still serves its
   * cached state, certificates and watch streams, so a process can start.
   */
  async health(): Promise<HealthBody> {
    try {
      return (await this.call<HealthBody>('GET', '/v1/health')).body;
    } catch (err) {
      const degraded = err instanceof MeshError ? (err.details?.lastUnavailableBody as HealthBody | undefined) : undefined;
      if (degraded?.status) return degraded;
      throw err;
    }
  }

  async register(req: RegisterRequest): Promise<RegisterResponse> {
    return (await this.call<RegisterResponse>('POST', '/v1/instances', req)).body;
  }

  /** Renew a lease; resolves false when the control plane does not know the lease (re-register). */
  async renew(leaseId: string): Promise<boolean> {
    try {
      await this.call('PUT', `/v1/leases/${encodeURIComponent(leaseId)}`);
      return true;
    } catch (err) {
      if (err instanceof MeshError && err.details?.apiCode === ErrorCode.LEASE_NOT_FOUND) return false;
      throw err;
    }
  }

  async deregister(leaseId: string): Promise<void> {
    try {
      await this.call('DELETE', `/v1/leases/${encodeURIComponent(leaseId)}`);
    } catch (err) {
      if (err instanceof MeshError && err.details?.apiCode === ErrorCode.LEASE_NOT_FOUND) return;
      throw err;
    }
  }

  /** Change what an open watch stream follows; false when the stream is gone. */
  async updateWatch(url: string, streamId: string, update: WatchUpdate): Promise<boolean> {
    try {
      await this.callAt(url, 'POST', `/v1/watch/${encodeURIComponent(streamId)}`, update);
      return true;
    } catch (err) {
      if (err instanceof MeshError && err.code === ErrorCode.CONTROL_PLANE_REJECTED && err.details?.status === 404) return false;
      throw err;
    }
  }

  /** Open a long-lived GET (the watch stream) at one control plane URL. */
  async openStream(url: string, path: string, signal: AbortSignal): Promise<Dispatcher.ResponseData> {
    try {
      const res = await this.#run(() =>
        this.#agent.request({
          origin: url,
          path,
          method: 'GET',
          headers: { ...this.#headers, accept: 'text/event-stream' },
          signal,
          headersTimeout: this.#timeoutMs,
          bodyTimeout: 0,
        }),
      );
      this.#noteCluster(res.headers);
      if (res.statusCode !== 200) {
        const body = await readJson(res);
        throw rejected('GET', path, res.statusCode, body);
      }
      return res;
    } catch (err) {
      if (err instanceof MeshError) throw err;
      throw unreachable([url], err);
    }
  }

  /**
   * One API call, failing over across the control plane URLs on connection
   * errors and on 502/503/504. Every call the mesh makes is safe to repeat on
   * another replica (heartbeats, registrations and certificates land in the
   * shared store). After an unavailable answer the next address is tried after
   * a short jittered pause, so that a mesh-wide store outage is not met with a
   * burst from every client; when none can serve, the error is
   * CONTROL_PLANE_UNREACHABLE (retryable), and callers retry on their schedule.
   */
  async call<T = unknown>(method: string, path: string, body?: unknown): Promise<{ status: number; body: T }> {
    let lastCause: unknown;
    let lastUnavailable: MeshError | undefined;
    const tried: string[] = [];
    for (let i = 0; i < this.urls.length; i++) {
      const url = this.currentUrl;
      try {
        return await this.callAt<T>(url, method, path, body);
      } catch (err) {
        if (!(err instanceof MeshError)) throw err;
        const unavailable = err.code === ErrorCode.CONTROL_PLANE_REJECTED && UNAVAILABLE.has(err.details?.status as number);
        if (err.code !== ErrorCode.CONTROL_PLANE_UNREACHABLE && !unavailable) throw err;
        tried.push(`${url}: ${unavailable ? err.message.replace(/^control plane /, '') : String((err.cause as Error)?.message ?? err.cause)}`);
        lastCause = unavailable ? err : err.cause;
        if (unavailable) lastUnavailable = err;
        if (this.urls.length > 1) this.rotate(url);
        if (unavailable && i + 1 < this.urls.length) await sleep(fullJitter(i + 1, { baseMs: 50, maxMs: 500 }));
      }
    }
    if (!lastUnavailable) throw unreachable(this.urls, lastCause);
    throw new MeshError(ErrorCode.CONTROL_PLANE_UNREACHABLE, `no control plane could serve ${method} ${path}: ${tried.join('; ')}`, {
      cause: lastCause,
      retryable: true,
      details: {
        urls: this.urls,
        status: lastUnavailable.details?.status,
        apiCode: lastUnavailable.details?.apiCode,
        lastUnavailableBody: lastUnavailable.details?.body,
      },
    });
  }

  async callAt<T = unknown>(url: string, method: string, path: string, body?: unknown): Promise<{ status: number; body: T }> {
    let res: Dispatcher.ResponseData;
    try {
      res = await this.#run(() =>
        this.#agent.request({
          origin: url,
          path,
          method: method as Dispatcher.HttpMethod,
          headers: body === undefined ? this.#headers : { ...this.#headers, 'content-type': 'application/json' },
          body: body === undefined ? undefined : JSON.stringify(body),
          headersTimeout: this.#timeoutMs,
          bodyTimeout: this.#timeoutMs,
        }),
      );
    } catch (err) {
      throw unreachable([url], err);
    }
    this.#noteCluster(res.headers);
    let parsed: unknown;
    try {
      parsed = await readJson(res);
    } catch (err) {
      throw unreachable([url], err);
    }
    if (res.statusCode >= 400) throw rejected(method, path, res.statusCode, parsed);
    return { status: res.statusCode, body: parsed as T };
  }

  async close(): Promise<void> {
    this.#clusterChanges.clear();
    await this.#agent.close();
  }
}

async function readJson(res: Dispatcher.ResponseData): Promise<unknown> {
  const text = await res.body.text();
  if (!text) return undefined;
  try {
    return JSON.parse(text);
  } catch {
    return { error: { code: 'UNKNOWN', message: text.slice(0, 200) } };
  }
}

function unreachable(urls: readonly string[], cause: unknown): MeshError {
  const why = cause instanceof Error ? cause.message : String(cause);
  return new MeshError(ErrorCode.CONTROL_PLANE_UNREACHABLE, `control plane unreachable at ${urls.join(', ')}: ${why}`, {
    cause,
    retryable: true,
    details: { urls, kind: errorKind(cause) },
  });
}

function rejected(method: string, path: string, status: number, body: unknown): MeshError {
  const err = (body as ApiErrorBody | undefined)?.error;
  const issues = err?.issues?.map((i) => (i.path ? `${i.path}: ${i.message}` : i.message)).join('; ');
  return new MeshError(ErrorCode.CONTROL_PLANE_REJECTED, `control plane answered ${status} to ${method} ${path}: ${err?.message ?? 'no message'}${issues ? ` (${issues})` : ''}`, {
    details: { status, apiCode: err?.code, issues: err?.issues, ...(UNAVAILABLE.has(status) ? { body } : {}) },
  });
}
