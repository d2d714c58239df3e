/**
 * A hostile HTTP/2 peer, frame by frame (RFC 9113 4.1), over a plain TCP
 * socket (h2c with prior knowledge): it sends what a well-behaved client
 * library would refuse to (streams beyond the peer's limit, header blocks
 * beyond its size, silence), and reads back the server's frame headers.
 * Header blocks use HPACK literals without indexing and no Huffman coding
 * (RFC 7541 6.2.2), so nothing of a dynamic table is needed.
 */
import net from 'node:net';

export const PREFACE = Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n', 'latin1');
export const FRAME = { DATA: 0, HEADERS: 1, RST_STREAM: 3, SETTINGS: 4, PING: 6, GOAWAY: 7, CONTINUATION: 9 } as const;
const END_STREAM = 0x1;
const END_HEADERS = 0x4;

export function frame(type: number, flags: number, streamId: number, payload: Buffer = Buffer.alloc(0)): Buffer {
  const head = Buffer.alloc(9);
  head.writeUIntBE(payload.length, 0, 3);
  head[3] = type;
  head[4] = flags;
  head.writeUInt32BE(streamId & 0x7fffffff, 5);
  return Buffer.concat([head, payload]);
}

/** RFC 7541 5.1: an integer with an N-bit prefix; `flags` fills the bits above it. */
function hpackInt(value: number, prefixBits: number, flags = 0): Buffer {
  const max = (1 << prefixBits) - 1;
  if (value < max) return Buffer.from([flags | value]);
  const out = [flags | max];
  let rest = value - max;
  while (rest >= 128) {
    out.push((rest % 128) + 128);
    rest = Math.floor(rest / 128);
  }
  out.push(rest);
  return Buffer.from(out);
}

/** A header block: `:method GET`, `:scheme http`, `:authority localhost` (nghttp2 wants one), then the given fields as literals without indexing. */
export function headerBlock(fields: [string, string][]): Buffer {
  const parts: Buffer[] = [Buffer.from([0x82, 0x86])];
  for (const [name, value] of [[':authority', 'localhost'] as [string, string], ...fields]) {
    const n = Buffer.from(name, 'latin1');
    const v = Buffer.from(value, 'latin1');
    parts.push(Buffer.from([0x00]), hpackInt(n.length, 7), n, hpackInt(v.length, 7), v);
  }
  return Buffer.concat(parts);
}

/** A request's HEADERS (and CONTINUATION frames when the block is over 16 KiB); the stream stays open unless `endStream`. */
export function requestFrames(streamId: number, fields: [string, string][], endStream = false): Buffer {
  const block = headerBlock(fields);
  const chunks: Buffer[] = [];
  for (let i = 0; i < block.length; i += 16_384) chunks.push(block.subarray(i, i + 16_384));
  return Buffer.concat(chunks.map((c, i) => frame(i === 0 ? FRAME.HEADERS : FRAME.CONTINUATION, (i === chunks.length - 1 ? END_HEADERS : 0) | (i === 0 && endStream ? END_STREAM : 0), streamId, c)));
}

export interface RawFrame {
  type: number;
  flags: number;
  streamId: number;
  payload: Buffer;
}

/** A TCP connection that collects the server's frames (after its own preface of SETTINGS). */
export class RawH2 {
  readonly socket: net.Socket;
  readonly frames: RawFrame[] = [];
  readonly closed: Promise<void>;
  #buf = Buffer.alloc(0);
  #waiters: (() => void)[] = [];

  constructor(port: number) {
    this.socket = net.connect(port, '127.0.0.1');
    this.socket.on('error', () => {});
    this.closed = new Promise((resolve) => this.socket.once('close', () => resolve()));
    this.socket.on('data', (chunk: Buffer) => {
      this.#buf = Buffer.concat([this.#buf, chunk]);
      while (this.#buf.length >= 9) {
        const len = this.#buf.readUIntBE(0, 3);
        if (this.#buf.length < 9 + len) break;
        this.frames.push({ type: this.#buf[3]!, flags: this.#buf[4]!, streamId: this.#buf.readUInt32BE(5) & 0x7fffffff, payload: this.#buf.subarray(9, 9 + len) });
        this.#buf = this.#buf.subarray(9 + len);
      }
      for (const w of this.#waiters.splice(0)) w();
    });
    this.socket.once('close', () => {
      for (const w of this.#waiters.splice(0)) w();
    });
  }

  connected(): Promise<void> {
    return new Promise((resolve, reject) => {
      this.socket.once('connect', () => resolve());
      this.socket.once('error', reject);
    });
  }

  /** The client preface and an empty SETTINGS frame. */
  greet(): void {
    this.socket.write(Buffer.concat([PREFACE, frame(FRAME.SETTINGS, 0, 0)]));
  }

  /** Resolves once `test` holds of the frames received (or the connection closed: check after). */
  async until(test: (frames: RawFrame[]) => boolean): Promise<void> {
    while (!test(this.frames) && !this.socket.destroyed) await new Promise<void>((resolve) => this.#waiters.push(resolve));
  }

  count(type: number): number {
    return this.frames.filter((f) => f.type === type).length;
  }

  close(): void {
    this.socket.destroy();
  }
}
