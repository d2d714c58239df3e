/**
 * The optional access log: one JSON line per request on each side, written
 * to a sink the application gives (e.g. `(line) => process.stdout.write(line)`).
 * Off unless asked for: the library never prints on its own.
 */
export type AccessLogSink = (line: string) => void;

export interface AccessLogEntry {
  /** ISO time the request started. */
  time: string;
  side: 'client' | 'server';
  /** This process's service. */
  service: string | undefined;
  /** client: the destination service; server: the caller's service, when its identity says. */
  peer: string | undefined;
  /** The caller's verified SPIFFE ID (server side, mTLS). */
  peer_identity?: string | undefined;
  method: string;
  /** The path without its query string (which may carry secrets). */
  path: string;
  route?: string | undefined;
  status: number;
  duration_ms: number;
  /** client: tries made (1 without retries). */
  attempts?: number;
  /** client: the endpoint that gave the final answer. */
  endpoint?: string | undefined;
  trace_id?: string | undefined;
  span_id?: string | undefined;
  /** The error code (HYPHAE_ERR_*, or the transport's) when the request failed without a response. */
  error?: string | undefined;
}

export function writeAccessLog(sink: AccessLogSink, entry: AccessLogEntry): void {
  try {
    sink(`${JSON.stringify(entry)}\n`);
  } catch {
    // A broken log sink must not break the request it describes.
  }
}

export function pathOnly(path: string | undefined): string {
  if (!path) return '/';
  const q = path.indexOf('?');
  return q < 0 ? path : path.slice(0, q);
}
