import type { Socket } from 'node:net';
import type { Readable } from 'node:stream';
import { errors } from 'undici';
import { headError, keepAliveHint, parserError, rawHeaders } from './answer.js';
import { BodyPump } from './body-pump.js';
import { LF } from './bytes.js';
import { ChunkedReader, ChunkError } from './chunked.js';
import type { Exchange, ExchangeCarrier } from './exchange.js';
import { HeadError, readResponseHead, type Http1Limits, type ResponseHead } from './head.js';
import { ReusedTimer } from './reused-timer.js';

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
  /** How long the connection may idle after this answer (its Keep-Alive hint), read with its head. */
  #idleMs = 0;
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
    this.#idleMs = this.#idleFor(head, buf);
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
    const idleMs = this.#idleMs;
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
