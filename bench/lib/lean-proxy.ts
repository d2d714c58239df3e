/**
 * Two floors under the proxy pair bench (bench/proxy-pair.ts), below bench/lib/bare-proxy.ts's: what Node's
 * sockets and TLS cost as a sidecar pair with mTLS between the sides once Node's HTTP stack is out of the way.
 * A child process of its own per side, as every other proxy of the bench.
 *
 *   node lean-proxy.js l4-client|l4-server <next port> <cert dir>     bytes piped net <-> tls: no HTTP at all
 *   node lean-proxy.js l7-client|l7-server <next port> <cert dir>     HTTP/1.1 framed on the raw sockets
 *
 * l7: each connection in has its own connection out (keep-alive both); request and response heads are found
 * and their content-length read in JavaScript (a string made only when the name is not lower-case), the request given one header
 * (`x-lean-hop: 1`, the work of adding an identity or a deadline), and what one read produced goes out in
 * one write (one TLS record). What it leaves out, beside all of the mesh: chunked and close-delimited
 * bodies, pipelining checks, every validation a server owes its peer (smuggling, sizes, timeouts). It is a
 * measure of the data path a raw-socket proxy would have, not a proxy: a message it cannot frame ends the
 * connection, so a row never counts an answer it mangled. Prints `listening PORT`.
 */
import { readFileSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import tls from 'node:tls';

const [role = '', nextPort, certDir = ''] = process.argv.slice(2);
if (!/^(l4|l7)-(client|server)$/.test(role)) throw new Error(`usage: lean-proxy.js l4-client|l4-server|l7-client|l7-server <next port> <cert dir> (got ${role})`);
const file = (name: string) => readFileSync(path.join(certDir, name));
const port = Number(nextPort);
const clientSide = role.endsWith('client');
const tlsOut = clientSide ? { ca: file('ca.crt'), cert: file('client.crt'), key: file('client.key'), servername: 'bench.local' } : undefined;

const HEAD_END = Buffer.from('\r\n\r\n');
const CONTENT_LENGTH = Buffer.from('\r\ncontent-length:');
const CHUNKED = 'transfer-encoding';
const HOP = Buffer.from('x-lean-hop: 1\r\n');

/** The content-length of a head (the bytes up to its blank line), -1 when the message is not framed by one. */
function contentLength(head: Buffer): number {
  let at = head.indexOf(CONTENT_LENGTH);
  // Header names are case-insensitive: the lower-cased copy only when the fast search missed.
  const lower = at < 0 || head.includes(CHUNKED, 0, 'latin1') ? head.toString('latin1').toLowerCase() : '';
  if (lower.includes(`\r\n${CHUNKED}:`)) return -1;
  if (at < 0) at = lower.indexOf('\r\ncontent-length:');
  if (at < 0) return /^(GET|HEAD|DELETE|OPTIONS) /.test(lower.toUpperCase()) ? 0 : -1;
  let i = at + CONTENT_LENGTH.length;
  while (head[i] === 32) i++;
  let n = 0;
  const first = i;
  while (head[i]! >= 48 && head[i]! <= 57) n = n * 10 + head[i++]! - 48;
  return i === first ? -1 : n;
}

/** One direction of an l7 connection: heads and content-length bodies from one socket written to `to`. */
class Framer {
  #held: Buffer | null = null;
  #bodyLeft = 0;
  constructor(
    private readonly to: net.Socket,
    private readonly extra: Buffer | null,
    private readonly fail: () => void,
  ) {}

  push(chunk: Buffer): void {
    let data = this.#held ? Buffer.concat([this.#held, chunk]) : chunk;
    this.#held = null;
    const out: Buffer[] = [];
    while (data.length > 0) {
      if (this.#bodyLeft > 0) {
        const n = Math.min(this.#bodyLeft, data.length);
        out.push(n === data.length ? data : data.subarray(0, n));
        this.#bodyLeft -= n;
        data = data.subarray(n);
        continue;
      }
      const end = data.indexOf(HEAD_END);
      if (end < 0) {
        if (data.length > 16_384) return this.fail();
        this.#held = data;
        break;
      }
      const length = contentLength(data.subarray(0, end + 2));
      if (length < 0) return this.fail();
      // The added header goes before the blank line that ends the head.
      if (this.extra) out.push(data.subarray(0, end + 2), this.extra, HEAD_END.subarray(2));
      else out.push(data.subarray(0, end + 4));
      data = data.subarray(end + 4);
      this.#bodyLeft = length;
    }
    if (out.length === 1) this.to.write(out[0]!);
    else if (out.length > 1) this.to.write(Buffer.concat(out));
  }
}

function relay(inbound: net.Socket): void {
  const out = tlsOut ? tls.connect({ host: '127.0.0.1', port, ...tlsOut }) : net.connect({ host: '127.0.0.1', port });
  const close = () => {
    inbound.destroy();
    out.destroy();
  };
  inbound.setNoDelay(true);
  out.setNoDelay(true);
  if (role.startsWith('l4')) {
    inbound.pipe(out);
    out.pipe(inbound);
  } else {
    const request = new Framer(out, HOP, close);
    const response = new Framer(inbound, null, close);
    inbound.on('data', (c: Buffer) => request.push(c));
    out.on('data', (c: Buffer) => response.push(c));
    inbound.on('end', () => out.end());
    out.on('end', () => inbound.end());
  }
  inbound.on('error', close).on('close', close);
  out.on('error', close).on('close', close);
}

const server = clientSide ? net.createServer(relay) : tls.createServer({ key: file('server.key'), cert: file('server.crt'), ca: file('ca.crt'), requestCert: true, rejectUnauthorized: true }, relay);
server.listen(0, '127.0.0.1', () => console.log(`listening ${(server.address() as net.AddressInfo).port}`));
process.on('SIGTERM', () => process.exit(0));
