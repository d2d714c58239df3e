import { CR, FIELD_VALUE, HEX, LF, TOKEN } from './bytes.js';

/**
 * A chunked body (RFC 9112 7.1) read as it arrives, in any splits: where it ends, and its data. Strict, as
 * the heads in head.ts, so that this proxy and the peer behind it find the same end: a size is hex digits
 * only (at most 12 significant: 256 TiB), extensions follow their grammar, trailers hold no control bytes,
 * both are bounded, every line ends in CRLF, a chunk's data is followed by CRLF and nothing else.
 */

export interface ChunkedLimits {
  /** A size line's bytes, extensions included. */
  maxSizeLineBytes: number;
  /** The trailer section's bytes, its blank line included. */
  maxTrailerBytes: number;
}

export const CHUNKED_DEFAULT_LIMITS: ChunkedLimits = { maxSizeLineBytes: 4_096, maxTrailerBytes: 16_384 };

export type ChunkErrorReason = 'bad-chunk-size' | 'chunk-too-large' | 'bad-chunk-extension' | 'size-line-too-long' | 'bad-chunk-end' | 'bad-trailer' | 'trailer-too-large';

export class ChunkError {
  constructor(readonly reason: ChunkErrorReason) {}
}

// The reader's states, in this order: the size line's first (limits counted by `<= S.SizeLf`).
const S = {
  Size: 0,
  ExtName: 1,
  ExtNameMore: 2,
  ExtValue: 3,
  ExtToken: 4,
  ExtQuoted: 5,
  ExtQuotedPair: 6,
  ExtQuoteEnd: 7,
  SizeLf: 8,
  Data: 9,
  DataCr: 10,
  DataLf: 11,
  TrailerStart: 12,
  TrailerName: 13,
  TrailerValue: 14,
  TrailerLf: 15,
  EndLf: 16,
  Done: 17,
} as const;
type State = (typeof S)[keyof typeof S];

const MAX_SIZE_DIGITS = 12;

export class ChunkedReader {
  #s: State = S.Size;
  #size = 0;
  #digits = 0;
  #sawDigit = false;
  #lineBytes = 0;
  #trailerBytes = 0;

  constructor(private readonly limits: ChunkedLimits = CHUNKED_DEFAULT_LIMITS) {}

  /** Whether the last chunk and the trailer section's blank line have been read. */
  get done(): boolean {
    return this.#s === S.Done;
  }

  /**
   * Reads `buf` from `from`, handing each run of chunk data to `onData` (a view of `buf`, not a copy).
   * Returns the index just after the body's last byte once done (what follows is the next message), else
   * buf.length; or a ChunkError, after which the connection can only be closed.
   */
  read(buf: Buffer, from: number, onData?: (data: Buffer) => void): number | ChunkError {
    let i = from;
    const n = buf.length;
    while (i < n) {
      const b = buf[i]!;
      switch (this.#s) {
        case S.Size:
          if (HEX[b] === 1) {
            if (this.#sawDigit || b !== 0x30) {
              this.#sawDigit = true;
              if (++this.#digits > MAX_SIZE_DIGITS) return new ChunkError('chunk-too-large');
              this.#size = this.#size * 16 + hexValue(b);
            }
            // Leading zeros too: a size line of a million zeros is still one line to bound.
            if (++this.#lineBytes > this.limits.maxSizeLineBytes) return new ChunkError('size-line-too-long');
            i++;
            continue;
          }
          if (this.#lineBytes === 0) return new ChunkError('bad-chunk-size');
          // No whitespace after the size, not even the BWS RFC 9112 7.1.1 allows before ';': llhttp refuses it.
          if (b === 0x3b) this.#s = S.ExtName;
          else if (b === CR) this.#s = S.SizeLf;
          else return new ChunkError('bad-chunk-size');
          break;
        // Extensions by their grammar, `;name[=token|"quoted"]`, without BWS: a parser that reads an unclosed
        // quote past the CRLF, or a bare LF inside one as the line's end, finds another end for the size line.
        case S.ExtName:
          if (TOKEN[b] === 0) return new ChunkError('bad-chunk-extension');
          this.#s = S.ExtNameMore;
          break;
        case S.ExtNameMore:
          if (b === 0x3d) this.#s = S.ExtValue;
          else if (!this.#extNext(b)) return new ChunkError('bad-chunk-extension');
          break;
        case S.ExtValue:
          if (b === 0x22) this.#s = S.ExtQuoted;
          else if (TOKEN[b] === 1) this.#s = S.ExtToken;
          else return new ChunkError('bad-chunk-extension');
          break;
        case S.ExtToken:
          if (!this.#extNext(b)) return new ChunkError('bad-chunk-extension');
          break;
        case S.ExtQuoted:
          if (b === 0x22) this.#s = S.ExtQuoteEnd;
          else if (b === 0x5c) this.#s = S.ExtQuotedPair;
          else if (FIELD_VALUE[b] === 0) return new ChunkError('bad-chunk-extension');
          break;
        case S.ExtQuotedPair:
          if (FIELD_VALUE[b] === 0) return new ChunkError('bad-chunk-extension');
          this.#s = S.ExtQuoted;
          break;
        case S.ExtQuoteEnd:
          if (b === 0x3b) this.#s = S.ExtName;
          else if (b === CR) this.#s = S.SizeLf;
          else return new ChunkError('bad-chunk-extension');
          break;
        case S.SizeLf:
          if (b !== LF) return new ChunkError('bad-chunk-size');
          this.#s = this.#size === 0 ? S.TrailerStart : S.Data;
          this.#lineBytes = 0;
          i++;
          continue;
        case S.Data: {
          const take = Math.min(this.#size, n - i);
          onData?.(buf.subarray(i, i + take));
          this.#size -= take;
          i += take;
          if (this.#size === 0) this.#s = S.DataCr;
          continue;
        }
        case S.DataCr:
          if (b !== CR) return new ChunkError('bad-chunk-end');
          this.#s = S.DataLf;
          i++;
          continue;
        case S.DataLf:
          if (b !== LF) return new ChunkError('bad-chunk-end');
          this.#s = S.Size;
          this.#digits = 0;
          this.#sawDigit = false;
          i++;
          continue;
        case S.TrailerStart:
          if (b === CR) this.#s = S.EndLf;
          else if (TOKEN[b] === 1) this.#s = S.TrailerName;
          else return new ChunkError('bad-trailer');
          break;
        case S.TrailerName:
          if (b === 0x3a) this.#s = S.TrailerValue;
          else if (TOKEN[b] === 0) return new ChunkError('bad-trailer');
          break;
        case S.TrailerValue:
          if (b === CR) this.#s = S.TrailerLf;
          else if (FIELD_VALUE[b] === 0) return new ChunkError('bad-trailer');
          break;
        case S.TrailerLf:
          if (b !== LF) return new ChunkError('bad-trailer');
          this.#s = S.TrailerStart;
          break;
        case S.EndLf:
          if (b !== LF) return new ChunkError('bad-trailer');
          this.#s = S.Done;
          return i + 1;
        case S.Done:
          return i;
      }
      // The bytes of a size line or of the trailer section, counted against their limits.
      i++;
      if (this.#s <= S.SizeLf) {
        if (++this.#lineBytes > this.limits.maxSizeLineBytes) return new ChunkError('size-line-too-long');
      } else if (++this.#trailerBytes > this.limits.maxTrailerBytes) {
        return new ChunkError('trailer-too-large');
      }
    }
    return this.#s === S.Done ? i : n;
  }

  /** Within a name or a token value: stays on a tchar, or moves on at ';' or the CR; false for anything else. */
  #extNext(b: number): boolean {
    if (b === 0x3b) this.#s = S.ExtName;
    else if (b === CR) this.#s = S.SizeLf;
    else if (TOKEN[b] === 0) return false;
    return true;
  }
}

function hexValue(b: number): number {
  return b <= 0x39 ? b - 0x30 : (b | 0x20) - 0x57;
}
