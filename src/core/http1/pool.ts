import type { Socket } from 'node:net';
import { buildConnector, Dispatcher, errors, Pool } from 'undici';
import { Http1Connection, type ConnectionOwner, type ConnectionPolicy } from './connection.js';
import { Exchange, type LegacyHandler } from './exchange.js';
import { HTTP1_DEFAULT_LIMITS, type Http1Limits } from './head.js';
import { needsUndici, requestHead } from './request-head.js';

/**
 * The raw HTTP/1.1 transport: an undici Dispatcher (`dispatch(opts, handler)` with undici's legacy handler,
 * `close`, `destroy`, and undici's `request`/`stream` helpers inherited) that frames HTTP/1.1 on its sockets
 * itself, with the strict reader of head.ts and chunked.ts, instead of undici's client. Why: undici's
 * JavaScript is the larger half of what holds a Node proxy pair below nginx's (docs/benchmarks.md, "Below
 * Node's HTTP stack"); this does what a mesh's HTTP/1.1 hop needs and no more.
 *
 * What it does as undici's Pool does: a connection per request in flight (never pipelined), keep-alive with
 * the server's Keep-Alive hint (less a threshold), `reset: true` for a connection used once, headers and body
 * timeouts, the handler's `false` pausing the socket, aborts at any point (onConnect hands the abort at
 * dispatch, not only once written), undici's error classes and codes.
 * What it leaves to undici, over a Pool made on first need with the same connector: upgrades, CONNECT,
 * Expect/100-continue, a `query` object, bodies other than strings, bytes and Node streams (FormData, Blob,
 * web streams); and a connection that ALPN made HTTP/2 (`h2`), whose request goes over an undici Client on
 * that very socket.
 */

export interface Http1PoolOptions {
  /** undici's connector shape (the mesh's mTLS connector); default: undici's TCP one with `connectTimeout`. */
  connect?: buildConnector.connector | undefined;
  connectTimeout?: number;
  keepAliveTimeout?: number;
  keepAliveMaxTimeout?: number;
  keepAliveTimeoutThreshold?: number;
  headersTimeout?: number;
  bodyTimeout?: number;
  /** At most this many connections; further requests wait for one. Default: no bound (undici's Pool's). */
  connections?: number | null;
  limits?: Http1Limits;
  /**
   * A connection whose ALPN answer was h2: carry its request on undici's HTTP/2 client over that socket
   * (told once per such connection). Without it such a connection fails its request.
   */
  onH2?: ((socket: Socket) => void) | undefined;
}

/** undici's defaults, so that a pool made without options behaves as undici's would. */
const DEFAULTS = { connectTimeout: 10_000, keepAliveTimeout: 4_000, keepAliveMaxTimeout: 600_000, keepAliveTimeoutThreshold: 2_000, headersTimeout: 300_000, bodyTimeout: 300_000 };

export class Http1Pool extends Dispatcher implements ConnectionOwner {
  readonly origin: URL;
  #host: string;
  #connect: buildConnector.connector;
  #connectOptions: buildConnector.Options;
  #policy: ConnectionPolicy;
  #headersTimeout: number;
  #bodyTimeout: number;
  #max: number;
  #onH2: ((socket: Socket) => void) | undefined;
  #idle: Http1Connection[] = [];
  #all = new Set<Http1Connection>();
  #connecting = 0;
  /** The exchanges whose connection is being made (destroy fails them; their connect callback comes later). */
  #connectingFor = new Set<Exchange>();
  #queue: Exchange[] = [];
  /** Exchanges taken and not settled (written, or waiting for their connection). */
  #active = 0;
  #fallback: Pool | undefined;
  #closed = false;
  #destroyed = false;
  #closeWaiters: (() => void)[] = [];
  #options: Http1PoolOptions;

  constructor(origin: string | URL, options: Http1PoolOptions = {}) {
    super();
    this.origin = new URL(origin);
    if (this.origin.protocol !== 'http:' && this.origin.protocol !== 'https:') throw new errors.InvalidArgumentError('invalid protocol');
    this.#options = options;
    this.#host = this.origin.host;
    const o = { ...DEFAULTS, ...stripUndefined(options) };
    this.#connect = options.connect ?? buildConnector({ timeout: o.connectTimeout });
    const port = this.origin.port || (this.origin.protocol === 'https:' ? '443' : '80');
    this.#connectOptions = {
      hostname: this.origin.hostname,
      host: this.origin.host,
      protocol: this.origin.protocol,
      port,
      servername: undefined,
      localAddress: null,
      httpSocket: undefined,
    } as unknown as buildConnector.Options;
    this.#policy = {
      limits: options.limits ?? HTTP1_DEFAULT_LIMITS,
      keepAliveTimeout: o.keepAliveTimeout,
      keepAliveMaxTimeout: o.keepAliveMaxTimeout,
      keepAliveTimeoutThreshold: o.keepAliveTimeoutThreshold,
    };
    this.#headersTimeout = o.headersTimeout;
    this.#bodyTimeout = o.bodyTimeout;
    this.#max = options.connections ?? Infinity;
    this.#onH2 = options.onH2;
  }

  get closed(): boolean {
    return this.#closed;
  }

  get destroyed(): boolean {
    return this.#destroyed;
  }

  /** Connections open (idle or busy) and being made: what a census of the pool reads. */
  get stats(): { connected: number; free: number; pending: number; running: number } {
    return { connected: this.#all.size, free: this.#idle.length, pending: this.#queue.length, running: this.#active - this.#queue.length };
  }

  override dispatch(opts: Dispatcher.DispatchOptions, handler: Dispatcher.DispatchHandler): boolean {
    const h = handler as LegacyHandler;
    try {
      if (this.#destroyed) throw new errors.ClientDestroyedError();
      if (this.#closed) throw new errors.ClientClosedError();
      if (!opts || typeof opts !== 'object') throw new errors.InvalidArgumentError('opts must be an object.');
      if (needsUndici(opts as Parameters<typeof needsUndici>[0])) return this.#undici().dispatch(opts, handler);
      const bytes = requestHead(opts, this.#host);
      if (bytes instanceof Error) throw bytes;
      const ex = new Exchange(opts, h, bytes, opts.headersTimeout ?? this.#headersTimeout, opts.bodyTimeout ?? this.#bodyTimeout, this.#onSettled);
      this.#active++;
      try {
        h.onConnect?.(ex.abort);
      } catch (err) {
        // As undici: a handler whose onConnect throws fails its request with it (and is counted out).
        ex.fail(err instanceof Error ? err : new Error(String(err)));
      }
      // Aborted (or failed) in onConnect: told already.
      if (!ex.done) this.#take(ex);
      return true;
    } catch (err) {
      if (typeof h.onError !== 'function') throw err;
      h.onError(err as Error);
      return false;
    }
  }

  /** Put `ex` on an idle connection, a new one, or the queue. */
  #take(ex: Exchange): void {
    const idle = this.#idle.pop();
    if (idle !== undefined) return this.#send(idle, ex);
    if (this.#all.size + this.#connecting < this.#max) return this.#open(ex);
    this.#queue.push(ex);
  }

  #send(conn: Http1Connection, ex: Exchange): void {
    conn.send(ex);
  }

  #open(ex: Exchange): void {
    this.#connecting++;
    this.#connectingFor.add(ex);
    this.#connect(this.#connectOptions, (err, socket) => {
      this.#connecting--;
      this.#connectingFor.delete(ex);
      if (err !== null || socket === null) {
        // A request aborted while its connection was being made has been told already.
        ex.fail(err ?? new errors.SocketError('connect failed'));
        this.#next();
        return;
      }
      if (this.#destroyed) {
        // Its request was failed by destroy().
        socket.destroy();
        return;
      }
      if ((socket as { alpnProtocol?: unknown }).alpnProtocol === 'h2') return this.#h2(socket as Socket, ex);
      const conn = new Http1Connection(socket as Socket, this, this.#policy);
      this.#all.add(conn);
      if (ex.done) this.released(conn);
      else this.#send(conn, ex);
    });
  }

  /** ALPN answered h2: this socket's request goes over undici's HTTP/2 client on it. */
  #h2(socket: Socket, ex: Exchange): void {
    if (this.#onH2 === undefined) {
      socket.destroy();
      ex.fail(new errors.SocketError('the server chose HTTP/2 on a connection of an HTTP/1.1 pool'));
      return;
    }
    this.#onH2(socket);
    if (ex.done) {
      socket.destroy();
      return;
    }
    ex.settle();
    const client = new Pool(this.origin, { allowH2: true, pipelining: 100, connections: 1, connect: (_o, cb) => cb(null, socket) });
    client.dispatch(ex.opts, ex.handler);
    // Closes when its one request is done: the pool this one becomes (the endpoint's next) opens its own.
    void client.close();
  }

  released(conn: Http1Connection): void {
    const next = this.#nextQueued();
    if (next !== undefined) return this.#send(conn, next);
    if (this.#closed) return conn.destroy(new errors.ClientClosedError());
    this.#idle.push(conn);
  }

  gone(conn: Http1Connection): void {
    this.#all.delete(conn);
    const i = this.#idle.indexOf(conn);
    if (i >= 0) this.#idle.splice(i, 1);
    this.#next();
  }

  /** A connection came free or closed: a queued exchange may open one now. */
  #next(): void {
    if (this.#queue.length === 0 || this.#all.size + this.#connecting >= this.#max) return;
    const ex = this.#nextQueued();
    if (ex !== undefined) this.#open(ex);
  }

  #nextQueued(): Exchange | undefined {
    for (;;) {
      const ex = this.#queue.shift();
      if (ex === undefined) return undefined;
      // Aborted while queued: told and counted then.
      if (!ex.done) return ex;
    }
  }

  readonly #onSettled = (): void => {
    this.#active--;
    if (this.#active === 0 && this.#closeWaiters.length > 0) this.#finishClose();
  };

  #undici(): Pool {
    const o = this.#options;
    return (this.#fallback ??= new Pool(this.origin, {
      ...(o.connect ? { connect: o.connect } : { connectTimeout: o.connectTimeout ?? DEFAULTS.connectTimeout }),
      pipelining: 1,
      // A connector offering h2 by ALPN (the mesh's in auto) may get it: undici then speaks it on that socket.
      allowH2: true,
      ...(o.connections ? { connections: o.connections } : {}),
      ...(o.keepAliveTimeout !== undefined ? { keepAliveTimeout: o.keepAliveTimeout } : {}),
      ...(o.headersTimeout !== undefined ? { headersTimeout: o.headersTimeout } : {}),
      ...(o.bodyTimeout !== undefined ? { bodyTimeout: o.bodyTimeout } : {}),
    }));
  }

  #finishClose(): void {
    for (const conn of [...this.#idle]) conn.destroy(new errors.ClientClosedError());
    const waiters = this.#closeWaiters;
    this.#closeWaiters = [];
    const fallback = this.#fallback;
    // A fallback already destroyed (a close() racing a destroy()) refuses close: the waiters are done either way.
    const closing = fallback ? fallback.close().catch(() => undefined) : Promise.resolve();
    void closing.then(() => {
      for (const w of waiters) w();
    });
  }

  override close(): Promise<void>;
  override close(callback: () => void): void;
  override close(callback?: () => void): Promise<void> | void {
    // As undici's: closing a destroyed dispatcher is refused.
    if (this.#destroyed) {
      const err = new errors.ClientDestroyedError();
      if (callback) {
        queueMicrotask(() => (callback as (err: Error | null) => void)(err));
        return;
      }
      return Promise.reject(err);
    }
    const done = new Promise<void>((resolve) => {
      this.#closed = true;
      this.#closeWaiters.push(resolve);
      if (this.#active === 0) this.#finishClose();
    });
    if (callback) void done.then(callback);
    else return done;
  }

  override destroy(): Promise<void>;
  override destroy(err: Error | null): Promise<void>;
  override destroy(callback: () => void): void;
  override destroy(err: Error | null, callback: () => void): void;
  override destroy(a?: Error | null | (() => void), b?: () => void): Promise<void> | void {
    const err = typeof a === 'function' || a == null ? new errors.ClientDestroyedError() : a;
    const callback = typeof a === 'function' ? a : b;
    this.#destroyed = true;
    this.#closed = true;
    for (const ex of this.#queue.splice(0)) if (!ex.done) ex.fail(err);
    for (const ex of this.#connectingFor) ex.fail(err);
    this.#connectingFor.clear();
    for (const conn of [...this.#all]) conn.destroy(err);
    this.#idle = [];
    const done = (this.#fallback ? this.#fallback.destroy(err) : Promise.resolve()).then(() => {
      this.#active = 0;
      for (const w of this.#closeWaiters.splice(0)) w();
    });
    if (callback) void done.then(callback);
    else return done;
  }
}

function stripUndefined<T extends object>(o: T): Partial<T> {
  const out: Partial<T> = {};
  for (const [k, v] of Object.entries(o)) if (v !== undefined && v !== null) (out as Record<string, unknown>)[k] = v;
  return out;
}
