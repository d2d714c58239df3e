/**
 * A client of one of the control plane's SSE endpoints other than the watch
 * (which has Watcher, ./control-plane.ts): the stats stream. It keeps every
 * event with its raw data text, so that tests can compare what two streams
 * were sent byte for byte, and tells when the server ends the stream. A
 * refused open is not an error: its status and error body are kept for the
 * test to assert on.
 */
import { request, type Dispatcher } from 'undici';
import type { ApiErrorBody } from '../../src/config/wire.js';

export interface SseEvent {
  event: string;
  /** The `data:` text as received. */
  raw: string;
  /** performance.now() when it was parsed. */
  at: number;
}

export interface SseOpenOptions {
  dispatcher?: Dispatcher;
  /** Bearer token; none when undefined. */
  token?: string;
}

export class SseClient {
  readonly status: number;
  /** The error body of a refused open (status other than 200). */
  readonly error: ApiErrorBody | undefined;
  readonly events: SseEvent[] = [];
  /** Resolves when the stream ends, closed by either side (at once for a refused open). */
  readonly ended: Promise<void>;
  /** performance.now() when the stream ended; undefined while open. */
  endedAt: number | undefined;
  #abort: AbortController;
  #waiters = new Set<() => void>();

  private constructor(status: number, error: ApiErrorBody | undefined, abort: AbortController, body: AsyncIterable<Buffer> | undefined) {
    this.status = status;
    this.error = error;
    this.#abort = abort;
    this.ended = body ? this.#read(body) : Promise.resolve();
    if (!body) this.endedAt = performance.now();
  }

  static async open(url: string, path: string, opts: SseOpenOptions = {}): Promise<SseClient> {
    const abort = new AbortController();
    const res = await request(`${url}${path}`, {
      dispatcher: opts.dispatcher,
      headers: { ...(opts.token ? { authorization: `Bearer ${opts.token}` } : {}), accept: 'text/event-stream' },
      signal: abort.signal,
      headersTimeout: 30_000,
      bodyTimeout: 0,
    });
    if (res.statusCode !== 200) {
      const text = await res.body.text();
      let error: ApiErrorBody | undefined;
      try {
        error = JSON.parse(text) as ApiErrorBody;
      } catch {
        error = undefined;
      }
      return new SseClient(res.statusCode, error, abort, undefined);
    }
    return new SseClient(200, undefined, abort, res.body);
  }

  async #read(body: AsyncIterable<Buffer>): Promise<void> {
    const decoder = new TextDecoder();
    let buf = '';
    try {
      for await (const chunk of body) {
        buf += decoder.decode(chunk, { stream: true });
        let end: number;
        while ((end = buf.indexOf('\n\n')) >= 0) {
          this.#parse(buf.slice(0, end));
          buf = buf.slice(end + 2);
        }
      }
    } catch {
      // Aborted by close(), or the server went away: either way the stream has ended.
    } finally {
      this.endedAt = performance.now();
      this.#wake();
    }
  }

  #parse(block: string): void {
    let event = 'message';
    const data: string[] = [];
    for (const line of block.split('\n')) {
      if (line.startsWith('event: ')) event = line.slice(7);
      else if (line.startsWith('data: ')) data.push(line.slice(6));
    }
    if (data.length > 0) this.events.push({ event, raw: data.join('\n'), at: performance.now() });
    this.#wake();
  }

  #wake(): void {
    for (const w of [...this.#waiters]) w();
  }

  /** The events named `event`, their data parsed. */
  data<T>(event: string): T[] {
    return this.events.filter((e) => e.event === event).map((e) => JSON.parse(e.raw) as T);
  }

  /** Resolves once `check()` holds (checked on every event and at the end); rejects after `timeoutMs` or if the stream ends first. */
  until(check: () => boolean, timeoutMs: number, what: string): Promise<void> {
    return new Promise((resolve, reject) => {
      const test = () => {
        if (check()) {
          done();
          resolve();
        } else if (this.endedAt !== undefined) {
          done();
          reject(new Error(`the stream ended before ${what} (${this.events.length} events)`));
        }
      };
      const timer = setTimeout(() => {
        done();
        reject(new Error(`not within ${timeoutMs} ms: ${what} (${this.events.length} events)`));
      }, timeoutMs);
      const done = () => {
        clearTimeout(timer);
        this.#waiters.delete(test);
      };
      this.#waiters.add(test);
      test();
    });
  }

  async close(): Promise<void> {
    this.#abort.abort();
    await this.ended;
  }
}
