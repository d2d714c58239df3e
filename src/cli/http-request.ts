/**
 * The CLI's requests to the control plane, over node:http and node:https. The CLI used undici, whose ~110
 * modules were about a third of every command's start on Node 20 (get: ~350 ms, of which ~100 ms loading
 * undici) for a few requests per run, where pooling and pipelining buy nothing.
 */
import http, { type IncomingMessage } from 'node:http';
import https from 'node:https';

export interface CliRequest {
  method: string;
  /** The path and query, appended to the connection's origin. */
  path: string;
  headers: Record<string, string>;
  body?: string | undefined;
  signal?: AbortSignal | undefined;
  /** From the request's start to the answer's headers. */
  headersTimeoutMs: number;
  /** Longest silence while the body is read. */
  bodyTimeoutMs: number;
}

/** A request that timed out: `code` is HEADERS_TIMEOUT or BODY_TIMEOUT (connection-hint.ts reads it). */
export class CliTimeoutError extends Error {
  constructor(
    readonly code: 'HEADERS_TIMEOUT' | 'BODY_TIMEOUT',
    message: string,
  ) {
    super(message);
  }
}

/** One keep-alive agent per client: a command's requests share a connection; `ca` is the control plane's CA. */
export function agentFor(url: string, ca: string | undefined): http.Agent {
  return url.startsWith('https://') ? new https.Agent({ keepAlive: true, ...(ca === undefined ? {} : { ca }) }) : new http.Agent({ keepAlive: true });
}

/** Sends the request; resolves with the answer once its headers are in (its body still to read). */
export function send(origin: string, agent: http.Agent, r: CliRequest): Promise<IncomingMessage> {
  const url = new URL(r.path, `${origin}/`);
  const transport = url.protocol === 'https:' ? https : http;
  const headers = r.body === undefined ? r.headers : { ...r.headers, 'content-length': String(Buffer.byteLength(r.body)) };
  return new Promise((resolve, reject) => {
    const req = transport.request(url, { method: r.method, headers, agent, signal: r.signal });
    const timer = setTimeout(() => req.destroy(new CliTimeoutError('HEADERS_TIMEOUT', `no answer within ${r.headersTimeoutMs} ms`)), r.headersTimeoutMs);
    req.once('response', (res) => {
      clearTimeout(timer);
      res.setTimeout(r.bodyTimeoutMs, () => res.destroy(new CliTimeoutError('BODY_TIMEOUT', `nothing read for ${r.bodyTimeoutMs} ms`)));
      // A kept-alive socket goes back to the agent: the next request sets its own timers.
      res.once('end', () => res.socket?.setTimeout(0));
      resolve(res);
    });
    req.once('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
    req.end(r.body);
  });
}

/**
 * The most of an answer the CLI reads: far above the largest listing of a big mesh (a few MB), far below what
 * would exhaust the process. A peer that sends more is cut, not buffered.
 */
export const MAX_ANSWER_BYTES = 64 * 1024 * 1024;

/** An answer over the limit (connection-hint.ts has no hint for it: the peer is not a control plane, or broken). */
export class CliAnswerTooLargeError extends Error {
  readonly code = 'ANSWER_TOO_LARGE';
}

/** The whole body as text, at most `maxBytes` of it. */
export async function readText(res: IncomingMessage, maxBytes = MAX_ANSWER_BYTES): Promise<string> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of res as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > maxBytes) {
      res.destroy();
      throw new CliAnswerTooLargeError(`the answer is larger than ${maxBytes} bytes`);
    }
    chunks.push(chunk);
  }
  return Buffer.concat(chunks).toString('utf8');
}
