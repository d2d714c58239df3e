/**
 * Reads the Server-Sent Events a peer's control plane writes (../watch/sse.ts frames them): `event:` and
 * `data:` lines, a blank line ending each event, `:` comments as keep-alives. Bounded: an event longer
 * than `maxEventBytes` is an error, so a peer cannot make us buffer without limit. Line by line, and a
 * partial line kept as its pieces: each byte is looked at once, so a large event costs its size, not
 * its size squared (joining or rescanning a growing string on every chunk took seconds for 8 MiB).
 */
import { ErrorCode, MeshError } from '../../core/errors.js';

export interface SseEvent {
  event: string;
  data: string;
}

export class SseReader {
  #decoder = new TextDecoder('utf-8', { fatal: true });
  #max: number;
  /** The line being received, in pieces. */
  #partial: string[] = [];
  #partialLength = 0;
  #event = 'message';
  #data: string[] = [];
  /** Characters of the event so far (complete lines). */
  #eventLength = 0;

  constructor(maxEventBytes: number) {
    this.#max = maxEventBytes;
  }

  /** The events `chunk` completes; throws HYPHAE_ERR_PEER_DATA_REJECTED on an oversized event or invalid UTF-8. */
  push(chunk: Uint8Array): SseEvent[] {
    let text: string;
    try {
      text = this.#decoder.decode(chunk, { stream: true });
    } catch {
      throw new MeshError(ErrorCode.PEER_DATA_REJECTED, 'the peer sent bytes that are not UTF-8 on its event stream');
    }
    const out: SseEvent[] = [];
    let pos = 0;
    for (let nl = text.indexOf('\n'); nl >= 0; nl = text.indexOf('\n', pos)) {
      const piece = text.slice(pos, nl);
      const line = this.#partial.length === 0 ? piece : this.#partial.join('') + piece;
      this.#partial = [];
      this.#partialLength = 0;
      pos = nl + 1;
      this.#eventLength += line.length + 1;
      if (this.#eventLength > this.#max) throw this.#tooLarge();
      if (line === '') {
        if (this.#data.length > 0) out.push({ event: this.#event, data: this.#data.join('\n') });
        this.#event = 'message';
        this.#data = [];
        this.#eventLength = 0;
      } else if (!line.startsWith(':')) {
        const colon = line.indexOf(':');
        const field = colon < 0 ? line : line.slice(0, colon);
        const value = colon < 0 ? '' : line.slice(line[colon + 1] === ' ' ? colon + 2 : colon + 1);
        if (field === 'event') this.#event = value;
        else if (field === 'data') this.#data.push(value);
      }
    }
    if (pos < text.length) {
      this.#partial.push(text.slice(pos));
      this.#partialLength += text.length - pos;
      if (this.#eventLength + this.#partialLength > this.#max) throw this.#tooLarge();
    }
    return out;
  }

  #tooLarge(): MeshError {
    return new MeshError(ErrorCode.PEER_DATA_REJECTED, `the peer sent an event of more than ${this.#max} bytes, the most one may be`);
  }
}
