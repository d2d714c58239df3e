/**
 * The control plane's event log: one line per significant event, so an operator can follow the registry
 * with `grep` and tests can wait for a line. Two formats of the same events:
 *
 * - `text` (the default): an ISO timestamp and the message, as it always was;
 * - `json` (`--log-format json`): one JSON object per line, for a log pipeline, with stable fields:
 *   `time` (ISO), `level` (info | warn | error), `msg` (the text line's message), `component` (which part
 *   of the control plane speaks), then the event's fields: the `key=value` pairs of the message (camelCase
 *   keys, integers as numbers) and whatever the caller passed.
 *
 * Callers write the message as they always did; its first word says what it is about (`watch ...`,
 * `register ...`, `reject 401 ...`, `error ...`, `WARNING ...`), so level and component are read from it
 * (COMPONENTS below), and a caller may still say them explicitly. Where the lines go is the caller's
 * choice (the CLI prints them; createControlPlane() is silent by default).
 */
export type LogSink = (line: string) => void;

export type LogFormat = 'text' | 'json';
export const LOG_FORMATS: readonly LogFormat[] = ['text', 'json'];

export type LogLevel = 'info' | 'warn' | 'error';

/** An event's own fields; `level` and `component` override what the message's first word says. */
export interface LogFields {
  level?: LogLevel;
  component?: string;
  [field: string]: unknown;
}

export interface EventLog {
  (message: string, fields?: LogFields): void;
}

export function eventLog(sink: LogSink | undefined, format: LogFormat = 'text'): EventLog {
  if (!sink) return () => {};
  return (message, fields) => {
    try {
      sink(format === 'json' ? jsonLine(message, fields) : `${new Date().toISOString()} ${message}`);
    } catch {
      // A broken sink (closed stdout) must not take a request down with it.
    }
  };
}

/** The first word of a message -> the part of the control plane it is about. */
const COMPONENTS: Record<string, string> = {
  listening: 'server',
  limits: 'server',
  closed: 'server',
  shutting: 'server',
  server: 'server',
  connection: 'server',
  reject: 'http',
  GET: 'http',
  POST: 'http',
  PUT: 'http',
  DELETE: 'http',
  watch: 'watch',
  stats: 'stats',
  tap: 'tap',
  register: 'registry',
  deregister: 'registry',
  expire: 'registry',
  restart: 'registry',
  // registry/restart-hold.ts's file, named first in its warnings.
  'registry-seen.json': 'registry',
  apply: 'config',
  delete: 'config',
  etcd: 'store',
  reporting: 'store',
  applying: 'store',
  ca: 'ca',
  certificate: 'ca',
  serving: 'ca',
  '--new-ca': 'ca',
  admin: 'auth',
  token: 'auth',
  insecure: 'security',
  metrics: 'metrics',
};

const LEVEL_WORDS: Record<string, LogLevel> = { error: 'error', WARNING: 'warn', warn: 'warn' };

/** Level and component from the message's first words: `error etcd: ...` is an error of the store. */
export function classify(message: string): { level: LogLevel; component: string } {
  const words = message.split(' ', 3);
  let i = 0;
  const level = LEVEL_WORDS[words[0]!] ?? 'info';
  if (level !== 'info') i = 1;
  // `error 500 GET /v1/...`: a status code between the level and the method.
  if (/^\d{3}$/.test(words[i] ?? '')) i++;
  const word = (words[i] ?? '').replace(/:$/, '');
  return { level, component: COMPONENTS[word] ?? (message.includes('etcd') ? 'store' : 'control-plane') };
}

/** `key=value` pairs of a message (keys of our own text: lower case and hyphens). */
const PAIR = /(?:^|\s)([a-z][a-z-]*)=([^\s()]+?)[,;:]?(?=$|[\s()])/g;
const RESERVED = new Set(['time', 'level', 'msg', 'component']);

function camel(key: string): string {
  return key.replace(/-([a-z])/g, (_m, c: string) => c.toUpperCase());
}

export function jsonLine(message: string, fields?: LogFields): string {
  const { level, component } = classify(message);
  const line: Record<string, unknown> = { time: new Date().toISOString(), level: fields?.level ?? level, msg: message, component: fields?.component ?? component };
  for (const m of message.matchAll(PAIR)) {
    const key = camel(m[1]!);
    if (RESERVED.has(key) || key in line) continue;
    const value = m[2]!;
    line[key] = /^\d{1,15}$/.test(value) ? Number(value) : value;
  }
  if (fields) for (const [k, v] of Object.entries(fields)) if (!RESERVED.has(k) && k !== 'level') line[k] = v;
  return JSON.stringify(line);
}

/** Lease and stream ids are capabilities: logs show just enough of them to correlate lines. */
export function shortId(id: string): string {
  return `${id.slice(0, 8)}…`;
}

/** Request targets come from the wire: cap their length and strip anything that could forge a log line. */
export function sanitize(text: string, max = 200): string {
  // eslint-disable-next-line no-control-regex
  const clean = text.replace(/[\u0000-\u001f\u007f]/g, '?');
  return clean.length > max ? `${clean.slice(0, max)}…(${clean.length} chars)` : clean;
}

/** Path segments that are capabilities: the id after /v1/leases/ and /v1/watch/. */
const CAPABILITY_IN_PATH = /^(\/v1\/(?:leases|watch)\/)([^/?#]+)/;

/** A request target fit for the log: capabilities shortened, then sanitized. */
export function logTarget(url: string | undefined): string {
  const target = (url ?? '').replace(CAPABILITY_IN_PATH, (_m, prefix: string, id: string) => `${prefix}${shortId(id)}`);
  return sanitize(target);
}
