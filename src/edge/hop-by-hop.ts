/**
 * Hop-by-hop header fields (RFC 9110 7.6.1): they describe one connection, so
 * a proxy consumes them and never forwards them, together with every field
 * the Connection header names. Anything else is end-to-end and goes on as
 * sent, in its order and case (from `rawHeaders`), duplicates included.
 */

/** Lower-case names that never cross a proxy. */
export const HOP_BY_HOP: ReadonlySet<string> = new Set([
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

/** Connection's usual values, options of this connection that name no field: no set, no split. */
function onlyAnOption(value: string): boolean {
  if (value.length !== 10 && value.length !== 5) return false;
  const lower = value.toLowerCase();
  return lower === 'keep-alive' || lower === 'close';
}

/** The field names a Connection header lists (lower case); undefined when it lists none, the common case. */
function connectionListed(value: string | string[] | undefined): Set<string> | undefined {
  if (value === undefined || (typeof value === 'string' && onlyAnOption(value))) return undefined;
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

/** The lengths of the HOP_BY_HOP names: a name of another length is end-to-end without being lower-cased. */
const HOP_BY_HOP_LENGTHS: ReadonlySet<number> = new Set([...HOP_BY_HOP].map((name) => name.length));

/**
 * The end-to-end fields of a response as undici's core hands them (`rawHeaders`: name, value, ... as
 * Buffers), as a flat [name, value, ...] list in their order and case, duplicates kept (Node's `writeHead`
 * takes it as it is): without the hop-by-hop fields and those the Connection header lists. No object is
 * built on the way, and a field whose name's length is no hop-by-hop name's is never lower-cased.
 */
export function endToEndRawResponseHeaders(rawHeaders: readonly Buffer[]): string[] {
  const out: string[] = [];
  let connection: string | string[] | undefined;
  for (let i = 0; i + 1 < rawHeaders.length; i += 2) {
    const name = rawHeaders[i]!.toString('latin1');
    const value = rawHeaders[i + 1]!.toString('latin1');
    if (HOP_BY_HOP_LENGTHS.has(name.length)) {
      const lower = name.toLowerCase();
      if (lower === 'connection') connection = connection === undefined ? value : [...(Array.isArray(connection) ? connection : [connection]), value];
      if (HOP_BY_HOP.has(lower)) continue;
    }
    out.push(name, value);
  }
  const listed = connectionListed(connection);
  if (listed === undefined) return out;
  // Rare: the answer names fields of its own connection. A second pass, as the request side's.
  const kept: string[] = [];
  for (let i = 0; i < out.length; i += 2) if (!listed.has(out[i]!.toLowerCase())) kept.push(out[i]!, out[i + 1]!);
  return kept;
}

/** Whether a request carries a body (RFC 9112 6.3): a framing header says so. A GET without one can be retried. */
export function hasRequestBody(headers: { 'content-length'?: string | undefined; 'transfer-encoding'?: string | undefined }): boolean {
  const length = headers['content-length'];
  return headers['transfer-encoding'] !== undefined || (length !== undefined && length !== '0');
}
