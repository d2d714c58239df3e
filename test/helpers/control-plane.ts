/**
 * Test helpers for anything that needs a control plane: start the real
 * `hyphae control-plane` as a child process, call its API, and watch it over
 * SSE with timestamps on every event (for latency assertions).
 *
 * Control planes start secure, as in production: HTTPS from their own CA,
 * tokens on every call. The helpers remember each one's CA and admin token,
 * so call(), register() and Watcher.open() speak HTTPS and send the admin
 * token unless told otherwise (`token: null` sends none, a string sends that).
 */
import { randomBytes } from 'node:crypto';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { Agent, request, type Dispatcher } from 'undici';
import type { ApiErrorBody, ServiceSnapshot, TokenResponse, WatchHello } from '../../src/config/wire.js';
import type { MeshOptions } from '../../src/mesh/options.js';
import type { RegisterRequest, RegisterResponse } from '../../src/config/instance.js';
import { cliPath, startNode, type Child } from './process.js';

export async function makeTempDir(prefix = 'hyphae-cp-'): Promise<string> {
  return mkdtemp(path.join(os.tmpdir(), prefix));
}

export interface StartControlPlaneOptions {
  /** Reuse a data directory (restart tests); a fresh temporary one otherwise. */
  dataDir?: string;
  ttlSeconds?: number;
  heartbeatMs?: number;
  bodyLimitBytes?: number;
  /** Plain HTTP, no CA, no tokens (--insecure): for tests about something else that plaintext makes simpler. */
  insecure?: boolean;
  /** Workload certificate lifetime (--cert-ttl), e.g. '3s'. */
  certTtl?: string;
  /** Extra command-line arguments. */
  args?: string[];
  /** Extra environment variables for the child process. */
  env?: Record<string, string>;
  /** Run it under this open-file limit (soft and hard, with prlimit). */
  fdLimit?: number;
  /** A command that execs the rest (netns.ts `launcher`): run it there, e.g. in a cluster's network namespace. */
  launcher?: readonly string[];
  /** The host the test dials when the control plane listens on a wildcard (`--host 0.0.0.0`): its printed URL names the wildcard. */
  reachAt?: string;
}

export interface RunningControlPlane {
  url: string;
  port: number;
  child: Child;
  dataDir: string;
  secure: boolean;
  /** The trust bundle file (HYPHAE_CA_FILE) and its PEM; undefined when insecure. */
  caFile: string | undefined;
  ca: string | undefined;
  adminToken: string | undefined;
  /** An undici dispatcher that trusts the control plane's CA (for requests the helpers do not make). */
  dispatcher: Dispatcher;
  /** `hyphae` CLI flags to reach it as admin: --control-plane, and when secure --token-file and --ca-file. */
  cliFlags: string[];
  /** A new join token for `service` (created with the admin token). */
  joinToken(service: string, namespace?: string): Promise<string>;
  /** createMesh() options for a process of `service`: URL, and when secure its join token and CA file. */
  meshOptions(service?: string, namespace?: string): Promise<MeshOptions>;
  /** HYPHAE_* variables for a child process of `service` (the same, as environment). */
  env(service: string, namespace?: string): Promise<Record<string, string>>;
  /** SIGTERM (or `signal`) and wait for exit; removes the data directory if this helper created it. Resolves with the exit code. */
  stop(signal?: NodeJS.Signals): Promise<number | null>;
}

interface Credentials {
  dispatcher: Dispatcher;
  adminToken: string | undefined;
}

/** What call() and Watcher.open() use for a control plane URL: its CA and admin token. */
const credentials = new Map<string, Credentials>();

/** Make the helpers trust a control plane started another way (createControlPlane() in process). */
export async function trustControlPlane(cp: { url: string; caFile: string | undefined; adminTokenFile: string | undefined }): Promise<Credentials> {
  const ca = cp.caFile ? await readFile(cp.caFile, 'utf8') : undefined;
  const adminToken = cp.adminTokenFile ? (await readFile(cp.adminTokenFile, 'utf8')).trim() : undefined;
  const cred = { dispatcher: new Agent(ca ? { connect: { ca } } : {}), adminToken };
  credentials.set(cp.url, cred);
  return cred;
}

export async function startControlPlane(opts: StartControlPlaneOptions = {}): Promise<RunningControlPlane> {
  const ownDir = opts.dataDir === undefined;
  const dataDir = opts.dataDir ?? (await makeTempDir());
  const args = ['control-plane', '--port', '0', '--data-dir', dataDir];
  if (opts.ttlSeconds !== undefined) args.push('--ttl', String(opts.ttlSeconds));
  if (opts.heartbeatMs !== undefined) args.push('--heartbeat-ms', String(opts.heartbeatMs));
  if (opts.bodyLimitBytes !== undefined) args.push('--body-limit', String(opts.bodyLimitBytes));
  if (opts.insecure) args.push('--insecure');
  if (opts.certTtl !== undefined) args.push('--cert-ttl', opts.certTtl);
  args.push(...(opts.args ?? []));
  // HYPHAE_TEST_ETCD=<endpoints> runs every control plane a test starts on etcd (a fresh prefix each),
  // to check that the etcd store and registry behave as the file store and the memory registry do.
  if (process.env.HYPHAE_TEST_ETCD && !args.includes('--store')) {
    args.push('--store', 'etcd', '--etcd-endpoints', process.env.HYPHAE_TEST_ETCD, '--etcd-prefix', `/test-${path.basename(dataDir)}/`);
    if (!opts.insecure) {
      // The CA lives in etcd, encrypted: a key per data directory, kept there so that a restart finds it.
      const keyFile = path.join(dataDir, 'test-ca-encryption.key');
      await writeFile(keyFile, `${randomBytes(32).toString('base64')}\n`, { mode: 0o600, flag: 'wx' }).catch((err: NodeJS.ErrnoException) => {
        if (err.code !== 'EEXIST') throw err;
      });
      args.push('--ca-encryption-key-file', keyFile);
    }
  }
  const child = startNode(cliPath, args, opts.env, [...(opts.launcher ?? []), ...(opts.fdLimit === undefined ? [] : ['prlimit', `--nofile=${opts.fdLimit}`])]);
  let match: RegExpMatchArray;
  try {
    // Generous: a first start makes RSA keys (the CA root, the HTTPS certificate), slow on a busy machine.
    match = await child.waitFor(/listening (https?:\/\/[^\s]+:(\d+))/, 60_000);
  } catch (err) {
    await child.kill('SIGKILL');
    if (ownDir) await rm(dataDir, { recursive: true, force: true });
    throw err;
  }
  const url = opts.reachAt === undefined ? match[1]! : match[1]!.replace(/\/\/[^/]+:(\d+)$/, `//${opts.reachAt}:$1`);
  const secure = url.startsWith('https:');
  const caFile = secure ? path.join(dataDir, 'ca-bundle.pem') : undefined;
  // Replicas on etcd share one admin token, given to each with --admin-token-file.
  const given = args.indexOf('--admin-token-file');
  const adminTokenFile = !secure ? undefined : given >= 0 ? args[given + 1]! : path.join(dataDir, 'admin-token');
  const cred = await trustControlPlane({ url, caFile, adminTokenFile });
  const joinToken = async (service: string, namespace?: string) => {
    const res = await call<TokenResponse>(url, 'POST', '/v1/tokens', { service, ...(namespace ? { namespace } : {}) });
    if (res.status !== 201) throw new Error(`token create answered ${res.status}: ${res.text}`);
    return res.body.token;
  };
  const cp: RunningControlPlane = {
    url,
    port: Number(match[2]),
    child,
    dataDir,
    secure,
    caFile,
    ca: caFile ? await readFile(caFile, 'utf8') : undefined,
    adminToken: cred.adminToken,
    dispatcher: cred.dispatcher,
    cliFlags: ['--control-plane', url, ...(secure ? ['--token-file', adminTokenFile!, '--ca-file', caFile!] : [])],
    joinToken,
    async meshOptions(service, namespace) {
      if (!secure) return { controlPlane: url, ...(service ? { service } : {}), ...(namespace ? { namespace } : {}) };
      const name = service ?? 'test-client';
      return { controlPlane: url, service: name, ...(namespace ? { namespace } : {}), token: await joinToken(name, namespace), caFile };
    },
    async env(service, namespace) {
      const env: Record<string, string> = { HYPHAE_CONTROL_PLANE: url, HYPHAE_SERVICE: service };
      if (namespace) env.HYPHAE_NAMESPACE = namespace;
      if (secure) {
        env.HYPHAE_TOKEN = await joinToken(service, namespace);
        env.HYPHAE_CA_FILE = caFile!;
      }
      return env;
    },
    async stop(signal = 'SIGTERM') {
      const code = await child.kill(signal);
      credentials.delete(url);
      await cred.dispatcher.close().catch(() => {});
      if (ownDir) await rm(dataDir, { recursive: true, force: true });
      return code;
    },
  };
  return cp;
}

// ---------------------------------------------------------------- HTTP

export interface ApiResponse<T = unknown> {
  status: number;
  headers: Dispatcher.ResponseData['headers'];
  /** Parsed JSON, or undefined for an empty body. */
  body: T;
  text: string;
}

export interface CallOptions {
  /** Sent as is (no JSON encoding); use with `contentType` to send anything. */
  raw?: string | Buffer;
  /** Content-Type header; defaults to application/json when a body is sent, none otherwise. */
  contentType?: string | null;
  headers?: Record<string, string>;
  /** Bearer token: the control plane's admin token by default; null sends none. */
  token?: string | null;
}

function authHeaders(url: string, token: string | null | undefined): Record<string, string> {
  const t = token === undefined ? credentials.get(url)?.adminToken : token;
  return t ? { authorization: `Bearer ${t}` } : {};
}

/** One API call. `body` is JSON-encoded; nothing is thrown for 4xx/5xx (tests assert on them). */
export async function call<T = unknown>(url: string, method: string, path: string, body?: unknown, opts: CallOptions = {}): Promise<ApiResponse<T>> {
  const payload = opts.raw ?? (body === undefined ? undefined : JSON.stringify(body));
  const headers: Record<string, string> = { ...authHeaders(url, opts.token), ...opts.headers };
  const contentType = opts.contentType === undefined ? (payload === undefined ? null : 'application/json') : opts.contentType;
  if (contentType !== null) headers['content-type'] = contentType;
  const res = await request(`${url}${path}`, {
    method: method as 'GET',
    headers,
    body: payload,
    headersTimeout: 10_000,
    bodyTimeout: 10_000,
    dispatcher: credentials.get(url)?.dispatcher,
  });
  const text = await res.body.text();
  let parsed: unknown;
  if (text !== '') {
    try {
      parsed = JSON.parse(text);
    } catch {
      parsed = undefined;
    }
  }
  return { status: res.statusCode, headers: res.headers, body: parsed as T, text };
}

export type ErrorResponse = ApiResponse<ApiErrorBody>;

export async function register(url: string, req: RegisterRequest, token?: string | null): Promise<RegisterResponse> {
  const res = await call<RegisterResponse>(url, 'POST', '/v1/instances', req, { token });
  if (res.status !== 201) throw new Error(`register answered ${res.status}: ${res.text}`);
  return res.body;
}

/** Renew a lease; resolves with the HTTP status (200, or 404 when the lease is unknown). */
export async function heartbeat(url: string, leaseId: string, token?: string | null): Promise<number> {
  return (await call(url, 'PUT', `/v1/leases/${encodeURIComponent(leaseId)}`, undefined, { token })).status;
}

/** Deregister; resolves with the HTTP status (204, or 404 when the lease is unknown). */
export async function deregister(url: string, leaseId: string, token?: string | null): Promise<number> {
  return (await call(url, 'DELETE', `/v1/leases/${encodeURIComponent(leaseId)}`, undefined, { token })).status;
}

// ---------------------------------------------------------------- watch (SSE)

export interface WatchEvent {
  event: string;
  data: unknown;
  /** performance.now() when the event was parsed. */
  at: number;
}

export interface ServiceEvent extends ServiceSnapshot {
  at: number;
  /** Index in Watcher.events. */
  index: number;
}

export class Watcher {
  readonly url: string;
  hello!: WatchHello;
  /** The stream's response headers (the control plane's `hyphae-cluster` among them). */
  headers: Dispatcher.ResponseData['headers'] = {};
  readonly events: WatchEvent[] = [];
  /** `: ping` comments received. */
  pings = 0;
  /** Resolves when the stream ends (closed by either side). */
  readonly ended: Promise<void>;
  #abort = new AbortController();
  #waiters = new Set<() => void>();
  #endedResolve!: () => void;
  #done = false;

  private constructor(url: string) {
    this.url = url;
    this.ended = new Promise((resolve) => (this.#endedResolve = resolve));
  }

  /** Open `GET /v1/watch?services=...` and resolve once the hello has arrived (admin token unless `token` says otherwise). */
  static async open(url: string, services: readonly string[] = [], token?: string | null): Promise<Watcher> {
    const w = new Watcher(url);
    const query = services.length > 0 ? `?services=${services.map(encodeURIComponent).join(',')}` : '';
    const res = await request(`${url}/v1/watch${query}`, {
      dispatcher: credentials.get(url)?.dispatcher,
      headers: { ...authHeaders(url, token), accept: 'text/event-stream' },
      signal: w.#abort.signal,
      headersTimeout: 10_000,
      bodyTimeout: 0,
    });
    if (res.statusCode !== 200) {
      const text = await res.body.text();
      throw new Error(`watch answered ${res.statusCode}: ${text}`);
    }
    w.headers = res.headers;
    void w.#read(res.body);
    const hello = await w.waitFor((e) => e.event === 'hello', 30_000);
    w.hello = hello.data as WatchHello;
    return w;
  }

  async #read(body: AsyncIterable<Buffer>): Promise<void> {
    const decoder = new TextDecoder();
    let buf = '';
    try {
      for await (const chunk of body) {
        buf += decoder.decode(chunk, { stream: true });
        let end: number;
        while ((end = buf.indexOf('\n\n')) >= 0) {
          const block = buf.slice(0, end);
          buf = buf.slice(end + 2);
          this.#parseBlock(block);
        }
      }
    } catch {
      // Aborted by close(), or the server went away: either way the stream has ended.
    } finally {
      this.#done = true;
      this.#endedResolve();
      this.#wake();
    }
  }

  #parseBlock(block: string): void {
    let event = 'message';
    const data: string[] = [];
    for (const line of block.split('\n')) {
      if (line.startsWith(':')) this.pings++;
      else if (line.startsWith('event: ')) event = line.slice(7);
      else if (line.startsWith('data: ')) data.push(line.slice(6));
    }
    if (data.length === 0) {
      this.#wake();
      return;
    }
    this.events.push({ event, data: JSON.parse(data.join('\n')), at: performance.now() });
    this.#wake();
  }

  #wake(): void {
    for (const w of [...this.#waiters]) w();
  }

  /** The first event at index >= `from` that matches (already received or future). */
  waitFor(pred: (e: WatchEvent) => boolean, timeoutMs = 5_000, from = 0): Promise<WatchEvent & { index: number }> {
    return new Promise((resolve, reject) => {
      let scanned = from;
      const check = () => {
        for (; scanned < this.events.length; scanned++) {
          const e = this.events[scanned]!;
          if (pred(e)) {
            done();
            resolve({ ...e, index: scanned });
            return;
          }
        }
        if (this.#done) {
          done();
          reject(new Error(`watch stream ended before the expected event; events:\n${this.#dump()}`));
        }
      };
      const timer = setTimeout(() => {
        done();
        reject(new Error(`no matching watch event within ${timeoutMs} ms; events:\n${this.#dump()}`));
      }, timeoutMs);
      const done = () => {
        clearTimeout(timer);
        this.#waiters.delete(check);
      };
      this.#waiters.add(check);
      check();
    });
  }

  /** The first `service` snapshot of `ref` (`name` or `namespace/name`) at index >= `from` that matches `pred`. */
  async waitForService(ref: string, pred: (s: ServiceSnapshot) => boolean = () => true, timeoutMs = 5_000, from = 0): Promise<ServiceEvent> {
    const [namespace, name] = ref.includes('/') ? ref.split('/') : ['default', ref];
    const e = await this.waitFor(
      (ev) => {
        if (ev.event !== 'service') return false;
        const s = ev.data as ServiceSnapshot;
        return s.namespace === namespace && s.name === name && pred(s);
      },
      timeoutMs,
      from,
    );
    return { ...(e.data as ServiceSnapshot), at: e.at, index: e.index };
  }

  /** The newest snapshot of `ref` received so far. */
  latest(ref: string): ServiceSnapshot | undefined {
    return this.snapshots(ref).at(-1);
  }

  /** Every service snapshot received so far for `ref`. */
  snapshots(ref: string): ServiceSnapshot[] {
    const [namespace, name] = ref.includes('/') ? ref.split('/') : ['default', ref];
    return this.events
      .filter((e) => e.event === 'service')
      .map((e) => e.data as ServiceSnapshot)
      .filter((s) => s.namespace === namespace && s.name === name);
  }

  /** POST /v1/watch/:streamId; resolves with the response. */
  update(add: string[], remove: string[] = []): Promise<ApiResponse> {
    return call(this.url, 'POST', `/v1/watch/${encodeURIComponent(this.hello.streamId)}`, { add, remove });
  }

  async close(): Promise<void> {
    this.#abort.abort();
    await this.ended;
  }

  #dump(): string {
    return this.events.map((e) => `  ${e.event} ${JSON.stringify(e.data)}`).join('\n') || '  (none)';
  }
}

/** Open a watch stream (same as Watcher.open). */
export function watch(url: string, services: readonly string[] = []): Promise<Watcher> {
  return Watcher.open(url, services);
}

// ---------------------------------------------------------------- figures

/** The p-th percentile (0..100) of a list of numbers, nearest-rank. */
export function percentile(values: readonly number[], p: number): number {
  if (values.length === 0) return NaN;
  const sorted = [...values].sort((a, b) => a - b);
  const rank = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[rank]!;
}
