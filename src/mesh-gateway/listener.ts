/**
 * The mesh gateway's TCP listener: read a ClientHello without terminating TLS, route by its SNI, connect
 * to an instance and pipe the bytes both ways, the ClientHello first. The TLS session is the caller's
 * with the instance: the gateway holds no key and sees no plaintext, so the instance's server sees the
 * caller's own certificate (getPeer(req)), and the caller checks the instance's identity as on a direct
 * call.
 *
 * Every peer is bounded: the ClientHello must be whole within `helloTimeoutMs` whatever its pace (one
 * timer from accept, not an idle timer a dribbling peer keeps resetting) and within `maxHelloBytes`;
 * at most `maxConnections` are open; a piped connection silent both ways for `idleTimeoutMs` is cut (one
 * sweep per listener, idle-sweep.ts); a half-close is passed on (TLS close_notify then FIN), and the idle
 * sweep ends a half that never follows. A refused connection gets a TLS alert when the peer sent a ClientHello (cheap: 7 bytes),
 * else a plain close.
 *
 * Piped pairs are relayed by the native relay's thread where it loads (native-relay.ts: the same rules,
 * its own idle sweep, a fraction of Node's CPU per chunk), else by Node's streams (relay.ts, idle-sweep.ts).
 */
import net, { type AddressInfo } from 'node:net';
import { DEFAULT_MAX_HELLO_BYTES, helloBufferBound, readClientHello } from './client-hello.js';
import { ErrorCode, MeshError } from '../core/errors.js';
import { IdleSweep } from './idle-sweep.js';
import { loadNativeRelay, NativeRelay, type RelayKind } from './native-relay.js';
import { relay } from './relay.js';
import type { Backend, MeshGatewayRouter } from './router.js';
import type { GatewayCounters, RefusalCause } from './stats.js';

export interface ListenerOptions {
  helloTimeoutMs: number;
  maxHelloBytes: number;
  maxConnections: number;
  idleTimeoutMs: number;
  connectTimeoutMs: number;
  /** Instances tried for one connection before it is refused (each failed one is skipped for `downMs`). */
  connectAttempts: number;
  downMs: number;
  /** The native relay where it loads ("auto"), always ("native": an error where it does not), or never ("node"). */
  relay: RelayKind;
}

export const DEFAULT_LISTENER_OPTIONS: ListenerOptions = {
  helloTimeoutMs: 10_000,
  maxHelloBytes: DEFAULT_MAX_HELLO_BYTES,
  maxConnections: 10_000,
  idleTimeoutMs: 300_000,
  connectTimeoutMs: 5_000,
  connectAttempts: 3,
  downMs: 5_000,
  relay: 'auto',
};

/** TLS alerts (RFC 8446 §6): fatal, with a record version any TLS client reads. */
const ALERT_HANDSHAKE_FAILURE = 40;
const ALERT_DECODE_ERROR = 50;
const ALERT_UNRECOGNIZED_NAME = 112;
const ALERT_INTERNAL_ERROR = 80;

function alert(description: number): Buffer {
  return Buffer.from([0x15, 0x03, 0x03, 0x00, 0x02, 0x02, description]);
}

const ALERTS: Partial<Record<RefusalCause, Buffer>> = {
  malformed: alert(ALERT_DECODE_ERROR),
  'too-large': alert(ALERT_DECODE_ERROR),
  'no-sni': alert(ALERT_UNRECOGNIZED_NAME),
  'not-mesh-sni': alert(ALERT_UNRECOGNIZED_NAME),
  'other-cluster': alert(ALERT_UNRECOGNIZED_NAME),
  'unknown-service': alert(ALERT_UNRECOGNIZED_NAME),
  'too-many-services': alert(ALERT_UNRECOGNIZED_NAME),
  'no-instances': alert(ALERT_HANDSHAKE_FAILURE),
  'discovery-timeout': alert(ALERT_INTERNAL_ERROR),
  'connect-failed': alert(ALERT_HANDSHAKE_FAILURE),
  closing: alert(ALERT_INTERNAL_ERROR),
};

export class MeshGatewayListener {
  readonly server: net.Server;
  readonly #o: ListenerOptions;
  readonly #router: MeshGatewayRouter;
  readonly #counters: GatewayCounters;
  readonly #sockets = new Set<net.Socket>();
  readonly #idle: IdleSweep;
  readonly #native: NativeRelay | undefined;
  /** Clients whose pair the native relay holds: Node's socket closed at the handover, the pair still open. */
  readonly #handedOver = new WeakSet<net.Socket>();
  /** Which relay pipes the pairs, and why Node's when it is. */
  readonly relayInUse: { kind: 'native' | 'node'; why?: string };
  #closing = false;

  constructor(router: MeshGatewayRouter, counters: GatewayCounters, options: ListenerOptions) {
    this.#o = options;
    this.#router = router;
    this.#counters = counters;
    this.#idle = new IdleSweep(options.idleTimeoutMs);
    const native = options.relay === 'node' ? { error: 'relay "node" asked for' } : loadNativeRelay();
    let started: NativeRelay | { error: string };
    try {
      started = 'binding' in native ? new NativeRelay(native.binding, options.idleTimeoutMs) : native;
    } catch (err) {
      // Its thread, epoll or eventfd could not be made (EMFILE, EAGAIN).
      started = { error: `the native relay did not start: ${(err as Error).message}` };
    }
    if (started instanceof NativeRelay) {
      this.#native = started;
      this.relayInUse = { kind: 'native' };
    } else if (options.relay === 'native') {
      throw new MeshError(ErrorCode.INVALID_OPTIONS, `mesh gateway: relay "native" asked for, and ${started.error}`, { details: { option: 'relay' } });
    } else {
      this.relayInUse = { kind: 'node', why: started.error };
    }
    // allowHalfOpen: a caller's FIN is passed on to the instance, not answered by closing our side at once.
    this.server = net.createServer({ allowHalfOpen: true, pauseOnConnect: false, noDelay: true }, (s) => this.#accept(s));
    this.server.maxConnections = options.maxConnections;
    this.server.on('drop', () => counters.refuse('connection-cap', `more than ${options.maxConnections} connections`));
  }

  listen(port: number, host: string): Promise<AddressInfo> {
    return new Promise((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen(port, host, () => {
        this.server.off('error', reject);
        resolve(this.server.address() as AddressInfo);
      });
    });
  }

  get address(): AddressInfo | undefined {
    return (this.server.address() as AddressInfo | null) ?? undefined;
  }

  #accept(client: net.Socket): void {
    const c = this.#counters;
    c.stats.accepted++;
    c.stats.active++;
    this.#sockets.add(client);
    client.once('close', () => {
      this.#sockets.delete(client);
      // A pair the native relay holds is counted until the relay says it ended.
      if (!this.#handedOver.has(client)) c.stats.active--;
    });
    // Errors end the connection (close follows); nothing else to do with them.
    client.on('error', () => client.destroy());
    if (this.#closing) return this.#refuse(client, 'closing', 'the gateway is closing', false);
    // The server's own cap counts Node's sockets, and a pair the native relay holds has none.
    if (c.stats.active > this.#o.maxConnections) {
      c.refuse('connection-cap', `more than ${this.#o.maxConnections} connections`);
      client.destroy();
      return;
    }
    let buffer = Buffer.allocUnsafe(0);
    let length = 0;
    const bound = helloBufferBound(this.#o.maxHelloBytes);
    const timer = setTimeout(() => {
      finish();
      this.#refuse(client, 'hello-timeout', `no whole ClientHello within ${this.#o.helloTimeoutMs} ms`, false);
    }, this.#o.helloTimeoutMs);
    const finish = () => {
      clearTimeout(timer);
      client.off('data', onData);
      client.off('end', onEnd);
    };
    const onEnd = () => {
      finish();
      this.#refuse(client, 'malformed', 'the peer ended before a whole ClientHello', false);
    };
    const onData = (chunk: Buffer) => {
      // Grown by doubling, so a peer sending a byte at a time costs linear copying, not quadratic.
      if (length + chunk.length > buffer.length) {
        const grown = Buffer.allocUnsafe(Math.min(bound + chunk.length, Math.max(2 * buffer.length, length + chunk.length, 2048)));
        buffer.copy(grown, 0, 0, length);
        buffer = grown;
      }
      chunk.copy(buffer, length);
      length += chunk.length;
      const data = buffer.subarray(0, length);
      const hello = readClientHello(data, this.#o.maxHelloBytes);
      if (hello.kind === 'more') {
        if (length > bound) {
          finish();
          this.#refuse(client, 'too-large', `over ${bound} bytes without a whole ClientHello`, true);
        }
        return;
      }
      finish();
      client.pause();
      if (hello.kind === 'refused') return this.#refuse(client, hello.cause, hello.detail, hello.cause !== 'not-tls');
      void this.#route(client, hello.servername, data);
    };
    client.on('data', onData);
    client.on('end', onEnd);
  }

  async #route(client: net.Socket, servername: string, hello: Buffer): Promise<void> {
    const route = await this.#router.route(servername);
    if (client.destroyed) return;
    if (typeof route === 'string') return this.#refuse(client, route, servername, true);
    const tried = new Set<Backend>();
    for (let attempt = 0; attempt < this.#o.connectAttempts; attempt++) {
      const backend = route.pick(tried);
      if (backend === undefined) break;
      tried.add(backend);
      const upstream = await this.#connect(backend);
      if (client.destroyed) {
        upstream?.destroy();
        return;
      }
      if (upstream !== undefined) return this.#pipe(client, upstream, backend, hello);
      this.#counters.stats.backendConnectFailures++;
      route.markDown(backend, this.#o.downMs);
    }
    this.#refuse(client, 'connect-failed', `${servername}: no instance accepted a connection (${tried.size} tried)`, true);
  }

  /** A connected socket to the instance, or undefined (refused, unreachable, or not within connectTimeoutMs). */
  #connect(b: Backend): Promise<net.Socket | undefined> {
    return new Promise((resolve) => {
      const s = net.connect({ host: b.address, port: b.port, allowHalfOpen: true, noDelay: true });
      const timer = setTimeout(() => done(undefined), this.#o.connectTimeoutMs);
      const onError = () => done(undefined);
      function done(result: net.Socket | undefined) {
        clearTimeout(timer);
        s.off('connect', onConnect);
        if (result === undefined) {
          // A later error of a socket given up on must not go unhandled.
          s.on('error', () => {});
          s.destroy();
        } else {
          s.off('error', onError);
        }
        resolve(result);
      }
      const onConnect = () => done(s);
      s.once('connect', onConnect);
      s.once('error', onError);
    });
  }

  #pipe(client: net.Socket, upstream: net.Socket, backend: Backend, hello: Buffer): void {
    this.#counters.stats.forwarded++;
    backend.active++;
    if (this.#native) void this.#handOver(this.#native, client, upstream, backend, hello);
    else this.#relayInNode(client, upstream, backend, hello);
  }

  async #handOver(native: NativeRelay, client: net.Socket, upstream: net.Socket, backend: Backend, hello: Buffer): Promise<void> {
    const c = this.#counters;
    this.#sockets.add(upstream);
    const cut = () => {
      client.destroy();
      upstream.destroy();
    };
    upstream.on('error', cut);
    client.on('error', cut);
    const held = await native.handOver(
      client,
      upstream,
      hello,
      (reason) => {
        backend.active--;
        c.stats.active--;
        if (reason === 'idle') c.stats.idleTimeouts++;
      },
      this.#o.idleTimeoutMs,
    );
    this.#sockets.delete(upstream);
    if (held === 'refused') {
      upstream.off('error', cut);
      client.off('error', cut);
      // handOver wrote the ClientHello already.
      return this.#relayInNode(client, upstream, backend, undefined);
    }
    if (held === 'held') this.#handedOver.add(client);
    else backend.active--;
    cut();
  }

  #relayInNode(client: net.Socket, upstream: net.Socket, backend: Backend, hello: Buffer | undefined): void {
    const c = this.#counters;
    this.#sockets.add(upstream);
    let closed = false;
    const close = () => {
      if (closed) return;
      closed = true;
      unwatch();
      backend.active--;
      this.#sockets.delete(upstream);
      client.destroy();
      upstream.destroy();
    };
    client.on('close', close);
    upstream.on('close', close);
    upstream.on('error', close);
    client.on('error', close);
    // Traffic either way keeps the pair; a pair silent both ways (a half-close whose other half never follows,
    // an instance that accepted then stalls) is cut, by the listener's one sweep (idle-sweep.ts).
    const unwatch = this.#idle.add(client, upstream, () => {
      c.stats.idleTimeouts++;
      close();
    });
    if (hello) upstream.write(hello);
    relay(client, upstream);
    relay(upstream, client);
    client.resume();
    upstream.resume();
  }

  #refuse(client: net.Socket, cause: RefusalCause, detail: string, sentHello: boolean): void {
    this.#counters.refuse(cause, detail);
    const a = sentHello ? ALERTS[cause] : undefined;
    if (a === undefined || client.destroyed) {
      client.destroy();
      return;
    }
    // The alert, then the socket goes once it is written: never a half-open socket kept for a peer that stays.
    client.end(a);
    client.destroySoon();
    const t = setTimeout(() => client.destroy(), 1_000);
    t.unref();
    client.once('close', () => clearTimeout(t));
  }

  /** Stop accepting; connections still open are cut after `graceMs`. */
  async close(graceMs = 0): Promise<void> {
    this.#closing = true;
    const closed = new Promise<void>((resolve) => this.server.close(() => resolve()));
    const native = this.#native;
    if (graceMs > 0 && (this.#sockets.size > 0 || (native?.size ?? 0) > 0)) {
      const ended = Promise.all([closed, native?.whenEmpty()]);
      await Promise.race([ended, new Promise((resolve) => setTimeout(resolve, graceMs).unref())]);
    }
    for (const s of this.#sockets) s.destroy();
    this.#idle.stop();
    await native?.close();
    await closed;
  }
}
