/**
 * How CLI commands talk to the control plane: its URL, the admin token and the
 * CA that signs its TLS certificate, from flags or the environment.
 */
import { readFileSync } from 'node:fs';
import type { Agent, IncomingMessage } from 'node:http';
import type { ApiErrorBody } from '../config/wire.js';
import { clusterFromHeader, CLUSTER_HEADER } from '../config/cluster-header.js';
import { UsageError } from './command.js';
import { connectionHint } from './connection-hint.js';
import { agentFor, readText, send } from './http-request.js';
import { configPath, findContext } from './contexts/config-file.js';

export const apiFlags = {
  'control-plane': { type: 'string' },
  // Refused with the replacement named (connectionFrom), rather than "unknown option".
  token: { type: 'string' },
  'token-file': { type: 'string' },
  'ca-file': { type: 'string' },
  context: { type: 'string' },
} as const;

/** Where every command looks without a flag, an environment variable or a context: the control plane's default port on loopback. */
export const DEFAULT_CONTROL_PLANE_URL = 'https://127.0.0.1:15010';

/** The refusal of --token, shared with `hyphae config set-context`. */
export const TOKEN_FLAG_REFUSED =
  '--token puts the token on the command line, where every local user can read it (ps, /proc/<pid>/cmdline): give --token-file <file> (HYPHAE_ADMIN_TOKEN_FILE), or the token in HYPHAE_ADMIN_TOKEN';

export const apiFlagsUsage = `Connection (flags or environment):
  --control-plane <url>  control plane URL (HYPHAE_CONTROL_PLANE, default https://127.0.0.1:15010)
  --token-file <file>    file holding the token sent: the admin token (HYPHAE_ADMIN_TOKEN_FILE; e.g.
                         <data-dir>/admin-token), or a viewer token for read-only views
                         Or the token itself in HYPHAE_ADMIN_TOKEN. Never as a flag: argv is visible
                         to every local user (ps), so --token is refused
  --ca-file <file>       CA certificate that signs the control plane's TLS certificate (HYPHAE_CA_FILE)
  --context <name>       a context of the config file (HYPHAE_CONFIG, default ~/.config/hyphae/config.yaml;
                         see hyphae config): its URL, CA file and token file, under these flags only
  Precedence: flags, then the environment, then the config file's current context (used only
  when neither a flag nor HYPHAE_CONTROL_PLANE names the control plane).
  Tokens are only sent over https:// (an --insecure control plane has none).`;

export interface ApiConnection {
  url: string;
  token: string | undefined;
  ca: string | undefined;
}

export async function connectionFrom(values: {
  'control-plane'?: string | undefined;
  token?: string | undefined;
  'token-file'?: string | undefined;
  'ca-file'?: string | undefined;
  context?: string | undefined;
}): Promise<ApiConnection> {
  if (values.token !== undefined) {
    throw new UsageError(TOKEN_FLAG_REFUSED);
  }
  const env = process.env;
  const envUrl = env.HYPHAE_CONTROL_PLANE?.split(',')[0];
  if (values.context !== undefined && values['control-plane'] !== undefined) {
    throw new UsageError('give --context or --control-plane, not both: a context is a control plane with its own CA and token');
  }
  // A context's CA and token belong to its URL: it is used only when it also names the control plane, so a
  // token never goes to a URL the context did not name. --context is a flag: it beats the environment.
  const named = values.context !== undefined;
  const ctx = named || (values['control-plane'] === undefined && envUrl === undefined) ? await findContext(configPath(env), values.context) : undefined;
  const fromEnv = named ? {} : { url: envUrl, caFile: env.HYPHAE_CA_FILE, token: env.HYPHAE_ADMIN_TOKEN, tokenFile: env.HYPHAE_ADMIN_TOKEN_FILE };
  const url = (values['control-plane'] ?? fromEnv.url ?? ctx?.controlPlane ?? DEFAULT_CONTROL_PLANE_URL).replace(/\/+$/, '');
  if (!/^https?:\/\//.test(url)) throw new UsageError(`--control-plane must be an http:// or https:// URL, got "${url}"`);
  const caFile = values['ca-file'] ?? fromEnv.caFile ?? ctx?.caFile;
  let ca: string | undefined;
  if (caFile) {
    try {
      ca = readFileSync(caFile, 'utf8');
    } catch (err) {
      throw new UsageError(`cannot read --ca-file ${caFile}${values['ca-file'] === undefined && ctx?.caFile === caFile ? ` (caFile of context "${ctx.name}")` : ''}: ${(err as Error).message}`);
    }
  }
  // A flag names this command's choice, so it wins over the environment; then the token, then its file.
  let token = values['token-file'] === undefined ? fromEnv.token : undefined;
  const tokenFile = values['token-file'] ?? fromEnv.tokenFile ?? ctx?.tokenFile;
  if (token === undefined && tokenFile) {
    try {
      token = readFileSync(tokenFile, 'utf8').trim();
    } catch (err) {
      throw new UsageError(
        `cannot read --token-file ${tokenFile}${values['token-file'] === undefined && ctx?.tokenFile === tokenFile ? ` (tokenFile of context "${ctx.name}")` : ''}: ${(err as Error).message}`,
      );
    }
  }
  // A bearer token over plain HTTP is readable by anyone on the path: never send one there.
  if (token !== undefined && url.startsWith('http://')) token = undefined;
  return { url, token, ca };
}

export interface ApiResult<T> {
  status: number;
  body: T;
  /** The answer's Date header (the control plane's clock, to the second): `hyphae check` measures clock skew on it. */
  date: string | undefined;
  /** The control plane's cluster, as its answers name it (the `hyphae-cluster` header); undefined from one that predates clusters. */
  cluster: string | undefined;
}

export class ApiClient {
  readonly conn: ApiConnection;
  #agent: Agent;

  constructor(conn: ApiConnection) {
    this.conn = conn;
    this.#agent = agentFor(conn.url, conn.ca);
  }

  /** One call; 4xx/5xx answers are returned, connection failures throw with the URL in the message. */
  async call<T = unknown>(method: string, path: string, body?: unknown, extraHeaders: Record<string, string> = {}): Promise<ApiResult<T | ApiErrorBody>> {
    const headers: Record<string, string> = { ...extraHeaders };
    if (body !== undefined) headers['content-type'] = 'application/json';
    if (this.conn.token) headers.authorization = `Bearer ${this.conn.token}`;
    let res: IncomingMessage;
    let text: string;
    try {
      res = await send(this.conn.url, this.#agent, {
        method,
        path,
        headers,
        body: body === undefined ? undefined : JSON.stringify(body),
        headersTimeoutMs: 10_000,
        bodyTimeoutMs: 10_000,
      });
      text = await readText(res);
    } catch (err) {
      const hint = connectionHint(this.conn.url, err, this.conn.ca !== undefined);
      throw new Error(`cannot reach the control plane at ${this.conn.url}: ${(err as Error).message}${hint ? `\n  hint: ${hint}` : ''}`, { cause: err });
    }
    let parsed: unknown;
    try {
      parsed = text ? JSON.parse(text) : undefined;
    } catch {
      throw new Error(`the control plane at ${this.conn.url} answered ${method} ${path} with ${res.statusCode} and a body that is not JSON: ${text.slice(0, 200)}`);
    }
    const date = res.headers.date;
    return { status: res.statusCode!, body: parsed as T | ApiErrorBody, date: typeof date === 'string' ? date : undefined, cluster: clusterFromHeader(res.headers[CLUSTER_HEADER]) };
  }

  async close(): Promise<void> {
    this.#agent.destroy();
  }
}

/** The message of an API error body, with its issues, one per line. */
export function describeApiError(status: number, body: unknown): string {
  const err = (body as ApiErrorBody | undefined)?.error;
  if (!err) return `control plane answered ${status}`;
  const issues = err.issues?.map((i) => `  ${i.path || '(document)'}: ${i.message}`).join('\n');
  return `${err.code}: ${err.message}${issues ? `\n${issues}` : ''}`;
}
