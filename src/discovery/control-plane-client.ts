/**
 * HTTP client for the control plane's /v1 API. It holds the list of control
 * plane addresses and moves to the next one when one cannot be reached, so a
 * replicated control plane (several URLs) is followed without extra code.
 */
import { Agent, buildConnector, type Dispatcher } from 'undici';
import { ErrorCode, MeshError } from '../core/errors.js';
import { errorKind } from '../core/classifier.js';
import {
  certificateResponseSchema,
  trustBundleSchema,
  type ApiErrorBody,
  type CertificateResponse,
  type TrustBundle,
  type WatchUpdate,
} from '../config/wire.js';
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
  status: string;
  revision: number;
}

export class ControlPlaneClient {
  readonly urls: readonly string[];
  #agent: Agent;
  #current = 0;
  #timeoutMs: number;
  #headers: Record<string, string>;
  #baseCa: string[];
  #connector: buildConnector.connector;
  #run: <T>(fn: () => T) => T;

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

  /** Move to the next control plane (after a failed stream or call). */
  rotate(): string {
    this.#current = (this.#current + 1) % this.urls.length;
    return this.currentUrl;
  }

  async health(): Promise<HealthBody> {
    return (await this.call<HealthBody>('GET', '/v1/health')).body;
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

  /** One API call, failing over across the control plane URLs on connection errors. */
  async call<T = unknown>(method: string, path: string, body?: unknown): Promise<{ status: number; body: T }> {
    let lastErr: unknown;
    for (let i = 0; i < this.urls.length; i++) {
      const url = this.urls[this.#current]!;
      try {
        return await this.callAt<T>(url, method, path, body);
      } catch (err) {
        if (!(err instanceof MeshError) || err.code !== ErrorCode.CONTROL_PLANE_UNREACHABLE) throw err;
        lastErr = err.cause;
        if (this.urls.length > 1) this.rotate();
      }
    }
    throw unreachable(this.urls, lastErr);
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
  return new MeshError(
    ErrorCode.CONTROL_PLANE_REJECTED,
    `control plane answered ${status} to ${method} ${path}: ${err?.message ?? 'no message'}${issues ? ` (${issues})` : ''}`,
    { details: { status, apiCode: err?.code, issues: err?.issues } },
  );
}
