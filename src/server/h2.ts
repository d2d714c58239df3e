/**
 * HTTP/2 servers as wrapServer takes them (issue 18): `http2.createServer()`
 * (h2c with prior knowledge) and `http2.createSecureServer()`. Node does not
 * export their classes, so they are recognised by the constructor of one of
 * each, made once on first use; the request objects of the compat API
 * (Http2ServerRequest/Response) are exported and recognised by class.
 */
import http2, { type Http2SecureServer, type Http2Server, type Http2Session } from 'node:http2';
import type http from 'node:http';

export type AnyHttp2Server = Http2Server | Http2SecureServer;

let constructors: readonly unknown[] | undefined;

export function isHttp2Server(server: object): server is AnyHttp2Server {
  constructors ??= [http2.createServer().constructor, http2.createSecureServer().constructor];
  return constructors.includes(server.constructor);
}

/** An Http2SecureServer: a tls.Server, which takes its HTTP sockets as 'secureConnection'. */
export function isSecureHttp2Server(server: AnyHttp2Server): server is Http2SecureServer {
  return isHttp2Server(server) && server.constructor === constructors![1];
}

/** A request of the compat API that came over HTTP/2 (an allowHTTP1 server also has HTTP/1.1 ones). */
export function isHttp2Request(req: http.IncomingMessage): boolean {
  return req instanceof http2.Http2ServerRequest;
}

/** The session of an HTTP/2 compat request. */
export function sessionOf(req: http.IncomingMessage): Http2Session | undefined {
  return (req as unknown as http2.Http2ServerRequest).stream?.session;
}

/** What the server was created with (Node keeps it under a private symbol; undefined if that ever changes). */
interface CreatedWith {
  allowHTTP1?: boolean;
  settings?: http2.Settings;
}

export function createdWith(server: AnyHttp2Server): CreatedWith {
  const key = Object.getOwnPropertySymbols(server).find((s) => s.description === 'options');
  const options = key === undefined ? undefined : (server as unknown as Record<symbol, unknown>)[key];
  return options !== null && typeof options === 'object' ? (options as CreatedWith) : {};
}

/** The TLS protocols the mesh's front offers a server: `h2` first for an HTTP/2 server, HTTP/1.1 always. */
export function alpnFor(server: object): string[] {
  return isHttp2Server(server) ? ['h2', 'http/1.1'] : ['http/1.1'];
}

/** The first bytes of an h2c connection with prior knowledge (the client preface, RFC 9113 3.4). */
const PREFACE = Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n', 'latin1');

/**
 * What a plaintext connection's first bytes say: the HTTP/2 preface whole (`h2c`), something else
 * (`http1`), or a start of the preface too short to tell (`more`: "P" may be the start of "POST").
 */
export function prefaceMatch(head: Buffer): 'h2c' | 'http1' | 'more' {
  const n = Math.min(head.length, PREFACE.length);
  if (n === 0 || !head.subarray(0, n).equals(PREFACE.subarray(0, n))) return 'http1';
  return n === PREFACE.length ? 'h2c' : 'more';
}
