/**
 * Hop-by-hop header fields (RFC 9110 7.6.1): they describe one connection, so
 * a proxy consumes them and never forwards them, together with every field
 * the Connection header names. Anything else is end-to-end and goes on as
 * sent, in its order and case (from `rawHeaders`), duplicates included.
 */

/** Lower-case names that never cross a proxy. */
const HOP_BY_HOP: ReadonlySet<string> = new Set([
  'connection',
  'proxy-connection',
  'keep-alive',
  'te',
  'transfer-encoding',
  'upgrade',
  'trailer',
  // Addressed to the proxy itself (RFC 9110 11.7): a credential for this hop, never for the service behind it.
  'proxy-authorization',
  'proxy-authenticate',
]);

/** The field names a Connection header lists (lower case); undefined when it lists none, the common case. */
function connectionListed(value: string | string[] | undefined): Set<string> | undefined {
  if (value === undefined) return undefined;
  let listed: Set<string> | undefined;
  for (const line of Array.isArray(value) ? value : [value]) {
    for (const token of line.split(',')) {
      const name = token.trim().toLowerCase();
      // close and keep-alive are options of this connection, not field names worth a set.
      if (name === '' || name === 'close' || name === 'keep-alive') continue;
      (listed ??= new Set()).add(name);
    }
  }
  return listed;
}

/**
 * The end-to-end request fields of `rawHeaders` as a flat [name, value, ...] array (undici's fastest shape),
 * without the hop-by-hop ones, those Connection names, and `drop` (lower-case names the forwarder sets itself).
 */
export function endToEndRequestHeaders(rawHeaders: readonly string[], connection: string | string[] | undefined, drop: ReadonlySet<string>): string[] {
  const listed = connectionListed(connection);
  const out: string[] = [];
  for (let i = 0; i + 1 < rawHeaders.length; i += 2) {
    const name = rawHeaders[i]!;
    const lower = name.toLowerCase();
    if (HOP_BY_HOP.has(lower) || drop.has(lower) || listed?.has(lower)) continue;
    out.push(name, rawHeaders[i + 1]!);
  }
  return out;
}

/** The end-to-end fields of a response's headers (undici's object: lower-case names), for `writeHead`. */
export function endToEndResponseHeaders(headers: Record<string, string | string[] | undefined>): Record<string, string | string[]> {
  const listed = connectionListed(headers.connection);
  const out: Record<string, string | string[]> = {};
  for (const name of Object.keys(headers)) {
    const value = headers[name];
    if (value === undefined || HOP_BY_HOP.has(name) || listed?.has(name)) continue;
    out[name] = value;
  }
  return out;
}

/** Whether a request carries a body (RFC 9112 6.3): a framing header says so. A GET without one can be retried. */
export function hasRequestBody(headers: { 'content-length'?: string | undefined; 'transfer-encoding'?: string | undefined }): boolean {
  const length = headers['content-length'];
  return headers['transfer-encoding'] !== undefined || (length !== undefined && length !== '0');
}
