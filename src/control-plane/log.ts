/**
 * The control plane's event log: one readable line per significant event,
 * prefixed with an ISO timestamp, so an operator can follow the registry with
 * `grep` and tests can wait for a line. Where the lines go is the caller's
 * choice (the CLI prints them; createControlPlane() is silent by default).
 */
export type LogSink = (line: string) => void;

export interface EventLog {
  (message: string): void;
}

export function eventLog(sink: LogSink | undefined): EventLog {
  if (!sink) return () => {};
  return (message) => {
    try {
      sink(`${new Date().toISOString()} ${message}`);
    } catch {
      // A broken sink (closed stdout) must not take a request down with it.
    }
  };
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
