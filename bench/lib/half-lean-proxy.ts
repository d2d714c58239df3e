/**
 * The proxy pair bench's halfway floors (bench/proxy-pair.ts): which half of Node's HTTP stack costs the
 * pair what. Each side keeps one half of bench/lib/bare-proxy.ts and does the other half as
 * bench/lib/lean-proxy.ts does, on raw sockets:
 *
 *   node half-lean-proxy.js http-in-client|http-in-server <next port> <cert dir>
 *        Node's http(s).Server in (as bare-proxy), the request written out on a raw socket of the connection's
 *        own, the answer's head parsed in JavaScript and given to writeHead, its body to end
 *   node half-lean-proxy.js raw-in-client|raw-in-server <next port> <cert dir>
 *        heads read from the raw socket in JavaScript, the request sent with undici's Pool.request (as
 *        bare-proxy), the answer's head and body written back on the raw socket in one write
 *
 * Content-length bodies only (the bench's GETs and its upstream's 29-byte answers); anything else ends the
 * connection, so that a row never counts an answer it mangled. Prints `listening PORT`.
 */
import { readFileSync } from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import net from 'node:net';
import path from 'node:path';
import tls from 'node:tls';
import { Pool, type Dispatcher } from 'undici';

const [role = '', nextPort, certDir = ''] = process.argv.slice(2);
const m = /^(http-in|raw-in)-(client|server)$/.exec(role);
if (!m) throw new Error(`usage: half-lean-proxy.js http-in-client|http-in-server|raw-in-client|raw-in-server <next port> <cert dir> (got ${role})`);
const [, half, side] = m;
const file = (name: string) => readFileSync(path.join(certDir, name));
const port = Number(nextPort);
const tlsOut = side === 'client' ? { ca: file('ca.crt'), cert: file('client.crt'), key: file('client.key'), servername: 'bench.local' } : undefined;
const tlsIn = { key: file('server.key'), cert: file('server.crt'), ca: file('ca.crt'), requestCert: true, rejectUnauthorized: true };

const HEAD_END = Buffer.from('\r\n\r\n');
const SKIP = new Set(['connection', 'keep-alive', 'transfer-encoding', 'content-length']);

interface Head {
  line: string;
  /** Name, value, name, value... as sent, framing fields left out. */
  raw: string[];
  length: number;
}

/** A head (the bytes before its blank line) split into its first line and fields, or undefined when malformed. */
function parseHead(bytes: Buffer): Head | undefined {
  const lines = bytes.toString('latin1').split('\r\n');
  const raw: string[] = [];
  let length = 0;
  for (let i = 1; i < lines.length; i++) {
    const l = lines[i]!;
    const colon = l.indexOf(':');
    if (colon <= 0) return undefined;
    const name = l.slice(0, colon);
    const lower = name.toLowerCase();
    const value = l.slice(colon + 1).trim();
    if (lower === 'transfer-encoding') return undefined;
    if (lower === 'content-length') length = Number(value);
    if (!SKIP.has(lower)) raw.push(name, value);
  }
  return Number.isSafeInteger(length) ? { line: lines[0]!, raw, length } : undefined;
}

/** Messages framed by content-length from a socket's reads, one callback each with its whole body. */
function reader(onMessage: (head: Head, body: Buffer) => void, fail: () => void): (chunk: Buffer) => void {
  let held: Buffer = Buffer.alloc(0);
  return (chunk) => {
    held = held.length ? Buffer.concat([held, chunk]) : chunk;
    for (;;) {
      const end = held.indexOf(HEAD_END);
      if (end < 0) return void (held.length > 16_384 && fail());
      const head = parseHead(held.subarray(0, end));
      if (!head) return fail();
      if (held.length < end + 4 + head.length) return;
      onMessage(head, held.subarray(end + 4, end + 4 + head.length));
      held = held.subarray(end + 4 + head.length);
    }
  };
}

function connectNext(): net.Socket {
  const s = tlsOut ? tls.connect({ host: '127.0.0.1', port, ...tlsOut }) : net.connect({ host: '127.0.0.1', port });
  s.setNoDelay(true);
  return s;
}

function httpIn(): net.Server {
  // Each connection in has its own connection out, and at most one request on it (the load does not pipeline).
  const outs = new WeakMap<net.Socket, { socket: net.Socket; res: http.ServerResponse | null }>();
  const handler: http.RequestListener = (req, res) => {
    let out = outs.get(req.socket);
    if (!out) {
      const o: { socket: net.Socket; res: http.ServerResponse | null } = { socket: connectNext(), res: null };
      const fail = () => {
        o.socket.destroy();
        req.socket.destroy();
      };
      o.socket.on(
        'data',
        reader((head, body) => {
          const r = o.res;
          o.res = null;
          r?.writeHead(Number(head.line.slice(9, 12)), [...head.raw, 'content-length', String(body.length)]).end(body);
        }, fail),
      );
      o.socket.on('error', fail).on('close', fail);
      req.socket.once('close', () => o.socket.destroy());
      outs.set(req.socket, o);
      out = o;
    }
    if (req.headers['content-length'] || req.headers['transfer-encoding']) return void res.writeHead(501).end();
    let head = `${req.method} ${req.url} HTTP/1.1\r\n`;
    for (let i = 0; i < req.rawHeaders.length; i += 2) if (!SKIP.has(req.rawHeaders[i]!.toLowerCase())) head += `${req.rawHeaders[i]}: ${req.rawHeaders[i + 1]}\r\n`;
    out.res = res;
    out.socket.write(`${head}x-lean-hop: 1\r\n\r\n`, 'latin1');
    req.resume();
  };
  const server = tlsOut ? http.createServer(handler) : https.createServer(tlsIn, handler);
  server.keepAliveTimeout = 75_000;
  return server;
}

function rawIn(): net.Server {
  const pool = new Pool(`${tlsOut ? 'https' : 'http'}://127.0.0.1:${port}`, tlsOut ? { connect: tlsOut } : {});
  const relay = (socket: net.Socket) => {
    socket.setNoDelay(true);
    let chain = Promise.resolve();
    const fail = () => {
      socket.destroy();
    };
    socket.on(
      'data',
      reader((head, body) => {
        const [method, url] = head.line.split(' ');
        // Answers go back in the order their requests came.
        chain = chain.then(async () => {
          const answer = await pool.request({ method: method as Dispatcher.HttpMethod, path: url!, headers: [...head.raw, 'x-lean-hop', '1'], ...(body.length ? { body } : {}) });
          const bytes = Buffer.from(await answer.body.arrayBuffer());
          let out = `HTTP/1.1 ${answer.statusCode} OK\r\n`;
          for (const [name, value] of Object.entries(answer.headers)) if (!SKIP.has(name)) out += `${name}: ${String(value)}\r\n`;
          socket.write(Buffer.concat([Buffer.from(`${out}content-length: ${bytes.length}\r\n\r\n`, 'latin1'), bytes]));
        }, fail);
      }, fail),
    );
    socket.on('error', fail);
  };
  return tlsOut ? net.createServer(relay) : tls.createServer(tlsIn, relay);
}

const server = half === 'http-in' ? httpIn() : rawIn();
server.listen(0, '127.0.0.1', () => console.log(`listening ${(server.address() as net.AddressInfo).port}`));
process.on('SIGTERM', () => process.exit(0));
