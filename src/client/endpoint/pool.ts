/**
 * An endpoint's connection pool, shaped for the wire protocol (issue 18): HTTP/1.1 as before (a
 * connection per request in flight, never pipelined), or HTTP/2 (a few connections, many streams each).
 *
 * What each Service asks for (`spec.protocol`):
 * - `http1`: HTTP/1.1 only; ALPN offers `http/1.1` alone. The pool is the one the mesh always had.
 * - `h2`: HTTP/2 only; over mTLS ALPN offers `h2` alone (a server that does not speak it fails the
 *   handshake), over plaintext h2c with prior knowledge.
 * - `auto` (the default): over mTLS, ALPN offers both and the server chooses; over plaintext, HTTP/1.1
 *   (h2c needs prior knowledge, which only the Service's `h2` gives).
 *
 * `auto` over mTLS cannot know the answer before the first connection, so an endpoint's first pool is
 * shaped for HTTP/1.1 (a connection per call in flight, which a server that answers HTTP/1.1 needs: the
 * mesh's servers until they speak HTTP/2) while ALPN offers both. A connection that comes up h2 carries
 * many streams at once, and the endpoint learns the answer (onProtocol): its next pool is the HTTP/2 one,
 * a few connections. Chosen per pool, never per request: a call only dispatches on the pool it finds.
 */
import { buildConnector, Pool, type Client, type Dispatcher } from 'undici';
import { ErrorCode, MeshError } from '../../core/errors.js';
import { Http1Pool } from '../../core/http1/pool.js';

/** What a Service asks for (Service.spec.protocol). */
export type WireProtocol = 'auto' | 'http1' | 'h2';
/** What a connection negotiated. */
export type NegotiatedProtocol = 'http/1.1' | 'h2';
/**
 * Which client carries HTTP/1.1 (mesh option `http1Transport`): undici's Pool, or the mesh's own framing on
 * raw sockets (core/http1/pool.ts), less CPU a request. HTTP/2 is undici's either way.
 */
export type Http1Transport = 'undici' | 'raw';

/** An endpoint's pool: undici's, or the raw HTTP/1.1 one (an undici Dispatcher too). */
export type EndpointDispatcher = Dispatcher & { readonly closed: boolean; readonly destroyed: boolean; close(): Promise<void>; destroy(): Promise<void> };

/**
 * Streams per HTTP/2 connection before the pool opens another (undici's own default, and Node's
 * server default peerMaxConcurrentStreams): the concurrency limit above bounds the total anyway.
 */
export const H2_STREAMS_PER_CONNECTION = 100;
/** HTTP/2 connections per endpoint: a few, so one slow session (flow control, a lost packet) stalls a part only. */
export const H2_CONNECTIONS = 4;

/** ALPN lists, by the protocol asked for; read by the mTLS connector (tls/mtls-connector.ts) as `opts.alpnProtocols`. */
const ALPN_AUTO = ['h2', 'http/1.1'];
const ALPN_H2 = ['h2'];

export interface EndpointPoolOptions {
  /** The connector (mTLS, SNI); undefined: undici's plain TCP one. */
  connect?: buildConnector.connector | undefined;
  /** Will a new connection be TLS (mTLS mode STRICT or PERMISSIVE)? Read when the pool is made. */
  tls: boolean;
  protocol: WireProtocol;
  /** What the endpoint's connections negotiated so far (undefined: none yet); shapes an `auto` pool. */
  learned?: NegotiatedProtocol | undefined;
  /** Told what each connection negotiated, as it connects. */
  onProtocol?: ((p: NegotiatedProtocol) => void) | undefined;
  /** Default undici. */
  transport?: Http1Transport | undefined;
}

/** The raw pool tells nothing of a connection that ALPN made h2 but hands it to undici: the connector told already. */
const handOff = (): void => {};

/** The pool of one endpoint for `protocol`. */
export function endpointPool(origin: string, options: EndpointPoolOptions): EndpointDispatcher {
  const { connect, tls, protocol } = options;
  const raw = options.transport === 'raw';
  // HTTP/1.1: the pool as it always was (nothing per connection or per request added).
  if (protocol === 'http1' || (protocol === 'auto' && !tls)) {
    if (raw) return new Http1Pool(origin, connect ? { connect } : {});
    return new Pool(origin, connect ? { pipelining: 1, connect } : { pipelining: 1 });
  }
  const alpn = protocol === 'h2' ? ALPN_H2 : ALPN_AUTO;
  const base = connect ?? plainConnector();
  let last: NegotiatedProtocol = 'http/1.1';
  const wrapped: buildConnector.connector = (opts, callback) =>
    base({ ...opts, alpnProtocols: alpn } as buildConnector.Options, (err, socket) => {
      if (err !== null) return callback(err, null);
      const negotiated = negotiatedOf(socket as SocketView, protocol);
      if (negotiated instanceof Error) {
        socket.destroy();
        return callback(negotiated, null);
      }
      last = negotiated;
      // The raw pool has no 'connect' event: told here, before the socket is used (an h2 answer renews the
      // endpoint's pools, and this socket's request goes over undici: Http1Pool's onH2).
      if (raw) options.onProtocol?.(negotiated);
      callback(null, socket);
    });
  // HTTP/2-shaped when asked for, or learnt; otherwise (auto, nothing or HTTP/1.1 learnt) HTTP/1.1-shaped.
  const h2 = protocol === 'h2' || options.learned === 'h2';
  if (raw && !h2) return new Http1Pool(origin, { connect: wrapped, onH2: handOff });
  const pool = new Pool(origin, h2 ? { allowH2: true, pipelining: H2_STREAMS_PER_CONNECTION, connections: H2_CONNECTIONS, connect: wrapped } : { allowH2: true, pipelining: 1, connect: wrapped });
  // undici emits 'connect' in the same tick as the connector's callback, before the client sends anything:
  // `last` is this connection's protocol. An HTTP/1.1 connection never pipelines; an h2 one carries many streams.
  pool.on('connect', (_origin, targets) => {
    const client = targets[targets.length - 1] as Client;
    client.pipelining = last === 'h2' ? H2_STREAMS_PER_CONNECTION : 1;
    options.onProtocol?.(last);
  });
  return pool;
}

/** What `socket` speaks; an Error when the Service forces h2 and the server agreed to something else. */
/** The fields read of a connected socket (a TLSSocket has both; a TCP socket none until h2c sets one). */
interface SocketView {
  alpnProtocol?: string | false | null;
  encrypted?: boolean;
}

function negotiatedOf(socket: SocketView, protocol: WireProtocol): NegotiatedProtocol | Error {
  if (socket.encrypted !== true) {
    if (protocol !== 'h2') return 'http/1.1';
    // h2c with prior knowledge: undici speaks HTTP/2 on a socket whose alpnProtocol says so.
    socket.alpnProtocol = 'h2';
    return 'h2';
  }
  if (socket.alpnProtocol === 'h2') return 'h2';
  if (protocol !== 'h2') return 'http/1.1';
  return new MeshError(ErrorCode.TLS_HANDSHAKE_FAILED, `the server did not agree to HTTP/2 (ALPN answered ${String(socket.alpnProtocol)}), and the Service sets protocol: h2`, {
    retryable: true,
    rejected: true,
    details: { alpn: socket.alpnProtocol },
  });
}

let plain: buildConnector.connector | undefined;
/** undici's TCP connector, for a mesh without mTLS whose Service forces h2c; built on first use. */
function plainConnector(): buildConnector.connector {
  return (plain ??= buildConnector({}));
}
