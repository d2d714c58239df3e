/**
 * Reads the Server-Sent Events a peer's control plane writes (../watch/sse.ts frames them): one `event:`
 * line and one `data:` line per event, `:` comments as keep-alives. Bounded: an event longer than
 * `maxEventBytes` is an error, so a peer cannot make us buffer without limit.
 */
import { ErrorCode, MeshError } from '../../core/errors.js';

export interface SseEvent {
  event: string;
  data: string;
}

export class SseReader {
  #decoder = new TextDecoder('utf-8', { fatal: true });
  #buffer = '';
  #max: number;

  constructor(maxEventBytes: number) {
    this.#max = maxEventBytes;
  }

  /** The events `chunk` completes; throws HYPHAE_ERR_PEER_DATA_REJECTED on an oversized event or invalid UTF-8. */
  push(chunk: Uint8Array): SseEvent[] {
    try {
      this.#buffer += this.#decoder.decode(chunk, { stream: true });
    } catch {
      throw new MeshError(ErrorCode.PEER_DATA_REJECTED, 'the peer sent bytes that are not UTF-8 on its event stream');
    }
    const out: SseEvent[] = [];
    let end: number;
    while ((end = this.#buffer.indexOf('\n\n')) >= 0) {
      if (end > this.#max) throw this.#tooLarge();
      const block = this.#buffer.slice(0, end);
      this.#buffer = this.#buffer.slice(end + 2);
      const e = parseBlock(block);
      if (e) out.push(e);
    }
    if (this.#buffer.length > this.#max) throw this.#tooLarge();
    return out;
  }

  #tooLarge(): MeshError {
    return new MeshError(ErrorCode.PEER_DATA_REJECTED, `the peer sent an event of more than ${this.#max} bytes, the most one may be`);
  }
}

function parseBlock(block: string): SseEvent | undefined {
  let event = 'message';
  const data: string[] = [];
  for (const line of block.split('\n')) {
    if (line === '' || line.startsWith(':')) continue;
    const colon = line.indexOf(':');
    const field = colon < 0 ? line : line.slice(0, colon);
    const value = colon < 0 ? '' : line.slice(colon + 1).replace(/^ /, '');
    if (field === 'event') event = value;
    else if (field === 'data') data.push(value);
  }
  return data.length === 0 ? undefined : { event, data: data.join('\n') };
}
