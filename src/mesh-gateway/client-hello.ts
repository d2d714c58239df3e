/**
 * The server name (SNI) of a TLS ClientHello, read from the first bytes a peer sends, without
 * terminating TLS (RFC 8446 §4.1.2 and RFC 6066 §3). Our own small parser over a Buffer: the maintained
 * npm module for this, read-tls-client-hello, reads off a socket and computes fingerprints we do not need;
 * it would be a new runtime dependency of every install, and the bounds (size, records, time) would still
 * be ours to enforce around it. The parse routing needs is short; it must be bounded and never throw on
 * hostile input. It reads only what routing needs and checks every length against the bytes that hold
 * it; anything it cannot vouch for is refused, not guessed.
 *
 * A ClientHello may span several TLS records (a large one with post-quantum key shares, or a peer that
 * splits it on purpose) and several TCP segments: the caller feeds what arrived so far and asks again
 * while the answer is `more`.
 */

/** The largest ClientHello accepted (handshake message body). Browsers send ~2 KiB, ~1.8 KiB more with ML-KEM key shares. */
export const DEFAULT_MAX_HELLO_BYTES = 16_384;

const RECORD_HEADER = 5;
/**
 * Records one ClientHello may span. A real client sends one (two for a very large hello); a peer that cuts
 * it into tiny records only makes the gateway buffer five header bytes per byte of hello.
 */
export const MAX_HELLO_RECORDS = 32;

/** The most bytes a caller buffers for a ClientHello of at most `maxHelloBytes`: its records, headers included. */
export function helloBufferBound(maxHelloBytes: number): number {
  return 4 + maxHelloBytes + RECORD_HEADER * MAX_HELLO_RECORDS;
}
/** RFC 8446 §5.1: a plaintext record's fragment is at most 2^14 bytes. */
const MAX_RECORD = 16_384;
const HANDSHAKE = 22;
const CLIENT_HELLO = 1;
const EXT_SERVER_NAME = 0;
const HOST_NAME = 0;

export type HelloCause = 'not-tls' | 'malformed' | 'too-large' | 'no-sni';

export type HelloResult =
  /** Not all of the ClientHello has arrived yet. */
  { kind: 'more' } | { kind: 'sni'; servername: string } | { kind: 'refused'; cause: HelloCause; detail: string };

const MORE: HelloResult = { kind: 'more' };

function refused(cause: HelloCause, detail: string): HelloResult {
  return { kind: 'refused', cause, detail };
}

/**
 * The ClientHello at the start of `data` (everything the peer sent so far), or `more`. `maxHelloBytes`
 * bounds the handshake message, and so what a caller must buffer: the records that carry it, at most
 * `maxHelloBytes` plus a record header per 2^14 bytes.
 */
export function readClientHello(data: Buffer, maxHelloBytes: number = DEFAULT_MAX_HELLO_BYTES): HelloResult {
  // Gather the handshake message out of as many records as carry it.
  const fragments: Buffer[] = [];
  let gathered = 0;
  let offset = 0;
  let needed = -1;
  while (needed < 0 || gathered < needed) {
    if (data.length - offset < RECORD_HEADER) return MORE;
    const type = data[offset]!;
    const major = data[offset + 1]!;
    const length = data.readUInt16BE(offset + 3);
    if (type !== HANDSHAKE || major !== 3) return refused('not-tls', `first record type ${type} version ${major}.${data[offset + 2]}`);
    if (length === 0 || length > MAX_RECORD) return refused('malformed', `record length ${length}`);
    if (fragments.length === MAX_HELLO_RECORDS) return refused('malformed', `a ClientHello in more than ${MAX_HELLO_RECORDS} records`);
    const available = Math.min(length, data.length - offset - RECORD_HEADER);
    fragments.push(data.subarray(offset + RECORD_HEADER, offset + RECORD_HEADER + available));
    gathered += available;
    if (needed < 0 && gathered >= 4) {
      // The handshake header, read as soon as its 4 bytes are in: an announced size over the bound is refused before its bytes come.
      const head = fragments.length === 1 ? fragments[0]! : Buffer.concat(fragments);
      if (head[0] !== CLIENT_HELLO) return refused('malformed', `handshake type ${head[0]}, not a ClientHello`);
      const bodyLength = head.readUIntBE(1, 3);
      if (bodyLength > maxHelloBytes) return refused('too-large', `ClientHello of ${bodyLength} bytes, over ${maxHelloBytes}`);
      needed = 4 + bodyLength;
    }
    if (gathered - available + length > maxHelloBytes + 4) return refused('too-large', `ClientHello records exceed ${maxHelloBytes} bytes`);
    if (available < length) return MORE;
    offset += RECORD_HEADER + length;
  }
  const message = fragments.length === 1 ? fragments[0]! : Buffer.concat(fragments);
  return serverNameOf(message.subarray(4, needed));
}

/** A bounds-checked reader: every read says whether the bytes were there. */
class Reader {
  offset = 0;
  constructor(readonly buf: Buffer) {}
  get left(): number {
    return this.buf.length - this.offset;
  }
  skip(n: number): boolean {
    if (this.left < n) return false;
    this.offset += n;
    return true;
  }
  u8(): number {
    return this.left < 1 ? -1 : this.buf[this.offset++]!;
  }
  u16(): number {
    if (this.left < 2) return -1;
    const v = this.buf.readUInt16BE(this.offset);
    this.offset += 2;
    return v;
  }
  /** The next `n` bytes as a sub-reader, or undefined when they are not there. */
  sub(n: number): Reader | undefined {
    if (n < 0 || this.left < n) return undefined;
    const r = new Reader(this.buf.subarray(this.offset, this.offset + n));
    this.offset += n;
    return r;
  }
}

function serverNameOf(body: Buffer): HelloResult {
  const r = new Reader(body);
  // legacy_version, random
  if (!r.skip(2 + 32)) return refused('malformed', 'ClientHello shorter than its fixed fields');
  const sessionId = r.u8();
  if (sessionId < 0 || sessionId > 32 || !r.skip(sessionId)) return refused('malformed', 'bad session id length');
  const suites = r.u16();
  if (suites < 2 || suites % 2 !== 0 || !r.skip(suites)) return refused('malformed', 'bad cipher suites length');
  const compressions = r.u8();
  if (compressions < 1 || !r.skip(compressions)) return refused('malformed', 'bad compression methods length');
  if (r.left === 0) return refused('no-sni', 'no extensions');
  const extensions = r.sub(r.u16());
  if (extensions === undefined || r.left !== 0) return refused('malformed', 'extensions length does not match the ClientHello');
  let servername: string | undefined;
  const seen = new Set<number>();
  while (extensions.left > 0) {
    const type = extensions.u16();
    const data = extensions.sub(extensions.u16());
    if (type < 0 || data === undefined) return refused('malformed', 'truncated extension');
    // RFC 8446 §4.2: at most one extension of each type; two server names would let two readers disagree.
    if (seen.has(type)) return refused('malformed', `extension ${type} twice`);
    seen.add(type);
    if (type !== EXT_SERVER_NAME) continue;
    const name = hostName(data);
    if (typeof name !== 'string') return name;
    servername = name;
  }
  return servername === undefined ? refused('no-sni', 'no server_name extension') : { kind: 'sni', servername };
}

function hostName(ext: Reader): string | HelloResult {
  const list = ext.sub(ext.u16());
  if (list === undefined || ext.left !== 0) return refused('malformed', 'server_name list length');
  let found: string | undefined;
  while (list.left > 0) {
    const type = list.u8();
    const name = list.sub(list.u16());
    if (type < 0 || name === undefined) return refused('malformed', 'truncated server name');
    if (type !== HOST_NAME) continue;
    // RFC 6066 §3: one name per type.
    if (found !== undefined) return refused('malformed', 'two host names');
    if (name.buf.length === 0 || name.buf.length > 253 || !isHostName(name.buf)) return refused('malformed', 'server name is not a host name');
    found = name.buf.toString('latin1');
  }
  return found ?? refused('no-sni', 'server_name without a host name');
}

/** Letters, digits, '-' and '.': what a DNS host name may hold (no NUL, no '/', nothing to smuggle past a later check). */
function isHostName(b: Buffer): boolean {
  for (let i = 0; i < b.length; i++) {
    const c = b[i]!;
    const ok = (c >= 0x61 && c <= 0x7a) || (c >= 0x41 && c <= 0x5a) || (c >= 0x30 && c <= 0x39) || c === 0x2d || c === 0x2e;
    if (!ok) return false;
  }
  return true;
}
