/**
 * A client of one of the control plane's SSE endpoints other than the watch
 * (which has Watcher, ./control-plane.ts): the stats stream. It keeps every
 * event with its raw data text, so that tests can compare what two streams
 * were sent byte for byte, and tells when the server ends the stream. A
 * refused open is not an error: its status and error body are kept for the
 * test to assert on.
 */
import { Agent, request } from 'undici';
import type { ApiErrorBody } from '../../src/config/wire.js';

export interface SseEvent {
  event: string;
  /** The `data:` text as received. */
  raw: string;
  /** performance.now() when it was parsed. */
  at: number;
}

export interface SseOpenOptions {
  /** The control plane's CA (PEM), for https. */
  ca?: string;
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

  private constructor(status: number, error: ApiErrorBody | undefined, abort: AbortController, body: AsyncIterable<Buffer> | undefined, agent: Agent) {
    this.status = status;
    this.error = error;
    this.#abort = abort;
    const read = body ? this.#read(body) : Promise.resolve((this.endedAt = performance.now()));
    this.ended = read.then(() => agent.close()).catch(() => {});
  }

  static async open(url: string, path: string, opts: SseOpenOptions = {}): Promise<SseClient> {
    // A connection of its own, as a browser's EventSource has: never an idle one from a pool, which the
    // server may be closing just as the request goes out.
    const agent = new Agent(opts.ca ? { connect: { ca: opts.ca } } : {});
    const abort = new AbortController();
    try {
      const res = await request(`${url}${path}`, {
        dispatcher: agent,
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
        return new SseClient(res.statusCode, error, abort, undefined, agent);
      }
      return new SseClient(200, undefined, abort, res.body, agent);
    } catch (err) {
      await agent.close();
      throw err;
    }
  }

  async #read(body: AsyncIterable<Buffer>): Promise<void> {
    const decoder = new TextDecoder();
    let buf = '';
    // Where the search for the end of the event resumes: a summary is hundreds of kilobytes, in many chunks.
    let from = 0;
    try {
      for await (const chunk of body) {
        buf += decoder.decode(chunk, { stream: true });
        let end: number;
        while ((end = buf.indexOf('\n\n', from)) >= 0) {
          this.#parse(buf.slice(0, end));
          buf = buf.slice(end + 2);
          from = 0;
        }
        from = Math.max(0, buf.length - 1);
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

  /** How many events named `event` have come. */
  count(event: string): number {
    let n = 0;
    for (const e of this.events) if (e.event === event) n++;
    return n;
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
