import type { Socket } from 'node:net';
import type { Readable } from 'node:stream';
import { errors } from 'undici';
import { equalsLower, LF } from './bytes.js';
import { ChunkedReader, ChunkError } from './chunked.js';
import type { Exchange, ExchangeCarrier } from './exchange.js';
import { FIELD_SPAN, HeadError, readResponseHead, type Http1Limits, type ResponseHead } from './head.js';

/**
 * One connection of the raw HTTP/1.1 transport (pool.ts): a request at a time (never pipelined, as the mesh's
 * pools always were), its head and body written on the socket, the answer framed by the strict reader
 * (head.ts, chunked.ts) and handed to the request's undici handler as undici's core would — raw headers as
 * Buffers (views of the bytes read, no copy), the body as views of each read, `false` from onData pausing the
 * socket until `resume`. Errors are undici's classes and codes, so everything above reads them unchanged.
 */

export interface ConnectionPolicy {
  readonly limits: Http1Limits;
  /** Idle time before an unused connection is closed, when the server gives no Keep-Alive hint. */
  readonly keepAliveTimeout: number;
  readonly keepAliveMaxTimeout: number;
  /** Taken off the server's hint: its timer started before ours. */
  readonly keepAliveTimeoutThreshold: number;
}

/** What the connection tells its pool. */
export interface ConnectionOwner {
  /** The connection is free for another request. */
  released(conn: Http1Connection): void;
  /** The connection is closed (or closing): forget it. */
  gone(conn: Http1Connection): void;
}

const enum Phase {
  /** No request: idle, its timer the keep-alive one. */
  Idle,
  /** Written, waiting for the answer's head. */
  Head,
  /** The head delivered; reading the body. */
  Body,
  Closed,
}

const EMPTY_TRAILERS: Buffer[] = [];

export class Http1Connection implements ExchangeCarrier {
  readonly socket: Socket;
  #owner: ConnectionOwner;
  #policy: ConnectionPolicy;
  #phase = Phase.Idle;
  #ex: Exchange | undefined;
  /**
   * The bytes of an answer's head not yet complete, as they came: joined into one buffer only when an LF comes
   * (a head ends in one), so that a head trickled a byte at a time is copied once a line, not once a read.
   */
  #held: Buffer[] = [];
  #heldBytes = 0;
  #head: ResponseHead | undefined;
  /** The bytes the head was read from (its fields are spans of them). */
  #headBuf: Buffer | undefined;
  /** Bytes of a length-framed body still to come. */
  #remaining = 0;
  #chunked: ChunkedReader | undefined;
  #paused = false;
  /** The request's body is still being written (a stream). */
  #writing: BodyPump | undefined;
  /** The request's body was written whole (false until then; a connection is reused only after). */
  #sent = false;
  /** The exchange's timer (head, then body: undici's defaults are equal) and the idle one; see ReusedTimer. */
  readonly #io = new ReusedTimer(() => this.#ioFired());
  readonly #idle = new ReusedTimer(() => this.#idleFired());
  #error: Error | undefined;
  readonly #resume = (): void => this.#resumeBody();

  constructor(socket: Socket, owner: ConnectionOwner, policy: ConnectionPolicy) {
    this.socket = socket;
    this.#owner = owner;
    this.#policy = policy;
    socket.setNoDelay(true);
    socket.on('data', (chunk: Buffer) => this.#read(chunk));
    socket.on('end', () => this.#ended());
    socket.on('error', (err: Error) => {
      this.#error ??= err;
    });
    socket.on('close', () => this.#closed());
    // Idle from the start: a connection whose request was aborted while it was made waits in the pool as any other.
    this.#idle.arm(policy.keepAliveTimeout);
  }

  get idle(): boolean {
    return this.#phase === Phase.Idle;
  }

  /** Write `ex` on this (idle) connection. */
  send(ex: Exchange): void {
    this.#ex = ex;
    ex.carrier = this;
    this.#phase = Phase.Head;
    this.#sent = false;
    this.#head = undefined;
    this.#held.length = 0;
    this.#heldBytes = 0;
    this.#io.arm(ex.headersTimeout);
    const { head, body } = ex.bytes;
    const socket = this.socket;
    if (body === undefined) {
      socket.write(head, 'latin1');
      this.#sent = true;
    } else if (Buffer.isBuffer(body)) {
      // One write: the head and a small body in one TLS record / TCP segment.
      if (body.length <= 16_384) socket.write(Buffer.concat([Buffer.from(head, 'latin1'), body]));
      else {
        socket.cork();
        socket.write(head, 'latin1');
        socket.write(body);
        socket.uncork();
      }
      this.#sent = true;
    } else {
      socket.write(head, 'latin1');
      this.#writing = new BodyPump(this, body as Readable, ex.bytes.length);
    }
  }

  /** The body pump's end: written whole, or failed (the exchange fails with it). */
  bodyWritten(err: Error | undefined): void {
    this.#writing = undefined;
    const ex = this.#ex;
    if (err === undefined) {
      this.#sent = true;
      // As undici: the head's wait counts from the body's end.
      if (ex !== undefined && this.#phase === Phase.Head) this.#io.arm(ex.headersTimeout);
      return;
    }
    if (ex !== undefined) this.#fail(ex, err);
  }

  abortExchange(ex: Exchange, err: Error): void {
    if (ex !== this.#ex) return;
    this.#fail(ex, err);
  }

  /** Close now (the pool is destroyed): an exchange in flight fails with `err`. */
  destroy(err: Error): void {
    const ex = this.#ex;
    if (ex !== undefined) this.#fail(ex, err);
    else this.#close();
  }

  // ---- reading ----

  #read(chunk: Buffer): void {
    const ex = this.#ex;
    if (ex === undefined) {
      // Bytes with no request: the server is not speaking HTTP/1.1 to us, or answered twice. Nothing to trust.
      this.#close();
      return;
    }
    if (this.#phase === Phase.Head) this.#readHead(ex, chunk);
    else if (this.#phase === Phase.Body) this.#readBody(ex, chunk, 0);
  }

  #readHead(ex: Exchange, chunk: Buffer): void {
    let buf = chunk;
    const held = this.#held;
    if (held.length > 0) {
      held.push(chunk);
      this.#heldBytes += chunk.length;
      // The reader scans from the start: called again only when an LF came (a head ends in one), or the bytes
      // held are over the limit (it refuses them). Until then the reads are kept as they are, not copied.
      if (chunk.indexOf(LF) < 0 && this.#heldBytes <= this.#policy.limits.maxHeadBytes) return;
      buf = Buffer.concat(held, this.#heldBytes);
      held.length = 0;
      this.#heldBytes = 0;
    }
    for (;;) {
      const head = readResponseHead(buf, ex.method, this.#policy.limits);
      if (head === undefined) {
        held.push(buf);
        this.#heldBytes = buf.length;
        return;
      }
      if (head instanceof HeadError) return this.#fail(ex, headError(head.reason));
      if (head.status < 200) {
        // 101 without an upgrade asked for (upgrades go over undici): not HTTP any more.
        if (head.status === 101) return this.#fail(ex, parserError('unexpected-upgrade'));
        // An interim answer (100, 103): the final one follows on the same bytes.
        buf = buf.subarray(head.headBytes);
        if (buf.length === 0) return;
        continue;
      }
      this.#startBody(ex, head, buf);
      return;
    }
  }

  #startBody(ex: Exchange, head: ResponseHead, buf: Buffer): void {
    this.#head = head;
    this.#headBuf = buf;
    this.#phase = Phase.Body;
    const framing = head.framing;
    if (framing.kind === 'length') this.#remaining = framing.length;
    else if (framing.kind === 'chunked') this.#chunked = new ChunkedReader();
    this.#io.arm(ex.bodyTimeout);
    const raw = rawHeaders(buf, head.fieldSpans);
    let go: boolean | undefined;
    try {
      ex.handler.onResponseStarted?.();
      if (ex.done || this.#ex !== ex) return;
      go = ex.handler.onHeaders?.(head.status, raw, this.#resume, head.reason);
    } catch (err) {
      return this.#threw(ex, err);
    }
    if (ex.done || this.#ex !== ex) return;
    if (go === false) this.#pause();
    if (framing.kind === 'none') return this.#complete(ex, buf.length > head.headBytes);
    if (buf.length > head.headBytes) this.#readBody(ex, buf, head.headBytes);
  }

  #readBody(ex: Exchange, buf: Buffer, from: number): void {
    this.#io.arm(ex.bodyTimeout);
    const framing = this.#head!.framing;
    if (framing.kind === 'length') {
      const avail = buf.length - from;
      const take = avail < this.#remaining ? avail : this.#remaining;
      this.#remaining -= take;
      if (take > 0) this.#deliver(ex, from === 0 && take === buf.length ? buf : buf.subarray(from, from + take));
      if (ex.done || this.#ex !== ex) return;
      if (this.#remaining === 0) this.#complete(ex, avail > take);
      return;
    }
    if (framing.kind === 'chunked') {
      const reader = this.#chunked!;
      const end = reader.read(buf, from, (data) => {
        if (!ex.done) this.#deliver(ex, data);
      });
      if (ex.done || this.#ex !== ex) return;
      if (end instanceof ChunkError) return this.#fail(ex, parserError(end.reason));
      if (reader.done) this.#complete(ex, end < buf.length);
      return;
    }
    // To the connection's close: everything is body.
    if (buf.length > from) this.#deliver(ex, from === 0 ? buf : buf.subarray(from));
  }

  #deliver(ex: Exchange, data: Buffer): void {
    let go: boolean | undefined;
    try {
      go = ex.handler.onData?.(data);
    } catch (err) {
      return this.#threw(ex, err);
    }
    if (go === false && !ex.done) this.#pause();
  }

  /** A handler that threw fails its own request with what it threw (as undici's), never the socket's events. */
  #threw(ex: Exchange, err: unknown): void {
    if (!ex.done && this.#ex === ex) this.#fail(ex, err instanceof Error ? err : new Error(String(err)));
  }

  #pause(): void {
    if (this.#paused) return;
    this.#paused = true;
    // A reader that is slow is not a server that is slow: no body timeout while paused (#ioFired).
    this.socket.pause();
  }

  #resumeBody(): void {
    if (!this.#paused || this.#phase !== Phase.Body) return;
    this.#paused = false;
    this.#io.arm(this.#ex!.bodyTimeout);
    this.socket.resume();
  }

  /** The answer is whole: the connection is released (or closed), then the handler told. */
  #complete(ex: Exchange, extra: boolean): void {
    const head = this.#head!;
    const idleMs = this.#idleFor(head, this.#headBuf!);
    this.#headBuf = undefined;
    this.#ex = undefined;
    ex.carrier = undefined;
    ex.settle();
    this.#chunked = undefined;
    // Reused only when both sides said so, the request went out whole and nothing came after the answer
    // (bytes with no request are a server out of step: never read as the next answer).
    // A Keep-Alive hint within the threshold (idleMs 0) is a server about to close it: not reused either (undici).
    if (head.keepAlive && idleMs > 0 && !ex.bytes.close && this.#sent && !extra && this.#error === undefined && !this.socket.destroyed) {
      this.#head = undefined;
      this.#phase = Phase.Idle;
      if (this.#paused) {
        this.#paused = false;
        this.socket.resume();
      }
      this.#idle.arm(idleMs);
      this.#owner.released(this);
    } else {
      this.#writing?.stop();
      this.#close();
    }
    try {
      ex.handler.onComplete?.(EMPTY_TRAILERS);
    } catch (err) {
      // As undici's Request: a handler whose onComplete throws hears of it in onError.
      ex.handler.onError?.(err instanceof Error ? err : new Error(String(err)));
    }
  }

  #idleFor(head: ResponseHead, buf: Buffer): number {
    const hint = keepAliveHint(buf, head.fieldSpans);
    const p = this.#policy;
    if (hint === undefined) return p.keepAliveTimeout;
    const ms = hint * 1000 - p.keepAliveTimeoutThreshold;
    return ms <= 0 ? 0 : Math.min(ms, p.keepAliveMaxTimeout);
  }

  #fail(ex: Exchange, err: Error): void {
    this.#ex = undefined;
    ex.carrier = undefined;
    this.#writing?.stop();
    this.#close();
    ex.fail(err);
  }

  // ---- the socket's end ----

  #ended(): void {
    const ex = this.#ex;
    if (ex !== undefined && this.#phase === Phase.Body && this.#head!.framing.kind === 'close') {
      this.#complete(ex, false);
      return;
    }
    if (ex !== undefined) this.#fail(ex, this.#error ?? new errors.SocketError('other side closed'));
    else this.#close();
  }

  #closed(): void {
    const ex = this.#ex;
    if (ex !== undefined) this.#fail(ex, this.#error ?? new errors.SocketError('other side closed'));
    this.#close();
  }

  #close(): void {
    if (this.#phase === Phase.Closed) return;
    this.#phase = Phase.Closed;
    this.#disarm();
    this.socket.destroy();
    this.#owner.gone(this);
  }

  // ---- timers: the exchange's and the idle one, each made once and refreshed (ReusedTimer) ----

  #disarm(): void {
    this.#io.clear();
    this.#idle.clear();
  }

  #ioFired(): void {
    const ex = this.#ex;
    // Refreshed on every send and read: it fires only after its whole period without either. Paused: not counted.
    if (ex === undefined || this.#paused || this.#io.ms === 0) return;
    // As undici: the head's wait is not counted while the request's body is still going out and the server takes
    // it (a slow upload); it is once the server stops taking it (the socket full) or has it all.
    if (this.#phase === Phase.Head && this.#writing !== undefined && !this.socket.writableNeedDrain) return void this.#io.arm(this.#io.ms);
    if (this.#phase === Phase.Head) this.#fail(ex, new errors.HeadersTimeoutError('Headers Timeout Error'));
    else if (this.#phase === Phase.Body) this.#fail(ex, new errors.BodyTimeoutError('Body Timeout Error'));
  }

  #idleFired(): void {
    if (this.#phase === Phase.Idle) this.#close();
  }
}

/**
 * A timer made once and refreshed while its period stays the same: a refresh moves it in Node's timer list, a
 * new one is an allocation and a clear. One that fired in a phase it does not apply to does nothing, and the
 * next arm schedules it again (refresh() on a fired timer re-arms it). A period of 0 (or not finite): off.
 */
class ReusedTimer {
  ms = 0;
  #t: NodeJS.Timeout | undefined;
  readonly #fire: () => void;
  constructor(fire: () => void) {
    this.#fire = fire;
  }
  arm(ms: number): void {
    if (ms <= 0 || !Number.isFinite(ms)) {
      this.ms = 0;
      return;
    }
    if (this.#t !== undefined && this.ms === ms) {
      this.#t.refresh();
      return;
    }
    if (this.#t !== undefined) clearTimeout(this.#t);
    this.ms = ms;
    this.#t = setTimeout(this.#fire, ms);
    this.#t.unref();
  }
  clear(): void {
    if (this.#t !== undefined) clearTimeout(this.#t);
    this.#t = undefined;
  }
}

/** The answer's fields as undici hands them: name, value, ... as Buffers, views of the bytes read. */
function rawHeaders(buf: Buffer, spans: readonly number[]): Buffer[] {
  const raw: Buffer[] = new Array<Buffer>((spans.length / FIELD_SPAN) * 2);
  for (let i = 0, j = 0; i < spans.length; i += FIELD_SPAN, j += 2) {
    raw[j] = buf.subarray(spans[i]!, spans[i + 1]!);
    raw[j + 1] = buf.subarray(spans[i + 2]!, spans[i + 3]!);
  }
  return raw;
}

/** The seconds of a Keep-Alive field's `timeout=` (the server's idle timeout), undefined without one. */
function keepAliveHint(buf: Buffer, spans: readonly number[]): number | undefined {
  for (let i = 0; i < spans.length; i += FIELD_SPAN) {
    if (spans[i + 1]! - spans[i]! !== 10 || !equalsLower(buf, spans[i]!, spans[i + 1]!, 'keep-alive')) continue;
    const m = /(?:^|[,;\s])timeout\s*=\s*(\d{1,9})/i.exec(buf.toString('latin1', spans[i + 2]!, spans[i + 3]!));
    if (m) return Number(m[1]);
  }
  return undefined;
}

/** A refused head as undici reports it: a head over the limits is its HeadersOverflowError, the rest parser errors. */
function headError(reason: string): Error {
  if (reason === 'head-too-large' || reason === 'too-many-fields') return new errors.HeadersOverflowError(`Headers Overflow Error (${reason})`);
  return parserError(reason);
}

/**
 * llhttp's names (undici's HPE_* codes) for the readers' reasons where llhttp has one; the reason itself is kept in
 * the message. A reason llhttp has no name for (its parser is laxer) keeps its own, upper-cased.
 */
const LLHTTP_CODES: Readonly<Record<string, string>> = {
  'bad-content-length': 'INVALID_CONTENT_LENGTH',
  'conflicting-content-length': 'UNEXPECTED_CONTENT_LENGTH',
  'content-length-with-transfer-encoding': 'UNEXPECTED_CONTENT_LENGTH',
  'unsupported-transfer-encoding': 'INVALID_TRANSFER_ENCODING',
  'transfer-encoding-in-http-1.0': 'INVALID_TRANSFER_ENCODING',
  'bad-status': 'INVALID_STATUS',
  'bad-version': 'INVALID_VERSION',
  'bad-field-name': 'INVALID_HEADER_TOKEN',
  'bad-field-value': 'INVALID_HEADER_TOKEN',
  'obs-fold': 'INVALID_HEADER_TOKEN',
  'bare-lf': 'CR_EXPECTED',
  'bare-cr': 'LF_EXPECTED',
  'bad-chunk-size': 'INVALID_CHUNK_SIZE',
  'chunk-too-large': 'INVALID_CHUNK_SIZE',
  'size-line-too-long': 'INVALID_CHUNK_SIZE',
  'bad-chunk-extension': 'STRICT',
  'bad-chunk-end': 'STRICT',
  'bad-trailer': 'INVALID_HEADER_TOKEN',
  'trailer-too-large': 'HEADER_OVERFLOW',
};

/** undici's parser error (code HPE_*), from the reader's reason. */
function parserError(reason: string): Error {
  // undici's runtime signature is (message, code, data); its types say (message, options). It prefixes HPE_.
  const Ctor = errors.HTTPParserError as unknown as new (message: string, code: string) => Error;
  return new Ctor(`Response does not match the HTTP/1.1 protocol (${reason})`, LLHTTP_CODES[reason] ?? reason.toUpperCase().replace(/[-.]/g, '_'));
}

/**
 * A request body streamed onto the connection: chunked unless its length was declared (then counted, and a
 * body longer or shorter than said fails the request), the stream paused while the socket is full.
 */
class BodyPump {
  #conn: Http1Connection;
  #body: Readable;
  #declared: number;
  #written = 0;
  #stopped = false;
  readonly #onData = (chunk: Buffer | string): void => this.#data(chunk);
  readonly #onEnd = (): void => this.#end();
  readonly #onError = (err: Error): void => this.#finish(err);
  readonly #onClose = (): void => this.#finish(new errors.RequestAbortedError('request body closed before its end'));
  readonly #onDrain = (): void => {
    if (!this.#stopped) this.#body.resume();
  };

  constructor(conn: Http1Connection, body: Readable, declared: number) {
    this.#conn = conn;
    this.#body = body;
    this.#declared = declared;
    body.on('data', this.#onData);
    body.on('end', this.#onEnd);
    body.on('error', this.#onError);
    body.on('close', this.#onClose);
    if (body.readableEnded) this.#end();
    else if (body.destroyed) this.#finish(new errors.RequestAbortedError('request body closed before its end'));
    else body.resume();
  }

  /** The request is over (answered early, failed): stop reading the body, leave it to its owner. */
  stop(): void {
    if (this.#stopped) return;
    this.#stopped = true;
    const body = this.#body;
    body.off('data', this.#onData);
    body.off('end', this.#onEnd);
    body.off('error', this.#onError);
    body.off('close', this.#onClose);
    this.#conn.socket.off('drain', this.#onDrain);
    body.pause();
  }

  #data(chunk: Buffer | string): void {
    if (this.#stopped) return;
    const bytes = typeof chunk === 'string' ? Buffer.from(chunk, 'utf8') : chunk;
    if (bytes.length === 0) return;
    this.#written += bytes.length;
    if (this.#declared >= 0 && this.#written > this.#declared) return this.#finish(new errors.RequestContentLengthMismatchError('Request body length does not match content-length header'));
    const socket = this.#conn.socket;
    let ok: boolean;
    if (this.#declared >= 0) ok = socket.write(bytes);
    else {
      socket.cork();
      socket.write(`${bytes.length.toString(16)}\r\n`, 'latin1');
      socket.write(bytes);
      ok = socket.write('\r\n', 'latin1');
      socket.uncork();
    }
    if (!ok) {
      this.#body.pause();
      socket.once('drain', this.#onDrain);
    }
  }

  #end(): void {
    if (this.#stopped) return;
    if (this.#declared >= 0 && this.#written !== this.#declared) return this.#finish(new errors.RequestContentLengthMismatchError('Request body length does not match content-length header'));
    if (this.#declared < 0) this.#conn.socket.write('0\r\n\r\n', 'latin1');
    this.#finish(undefined);
  }

  #finish(err: Error | undefined): void {
    if (this.#stopped) return;
    this.stop();
    this.#conn.bodyWritten(err);
  }
}
