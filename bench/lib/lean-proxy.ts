/**
 * Two floors under the proxy pair bench (bench/proxy-pair.ts), below bench/lib/bare-proxy.ts's: what Node's
 * sockets and TLS cost as a sidecar pair with mTLS between the sides once Node's HTTP stack is out of the way.
 * A child process of its own per side, as every other proxy of the bench.
 *
 *   node lean-proxy.js l4-client|l4-server <next port> <cert dir>     bytes piped net <-> tls: no HTTP at all
 *   node lean-proxy.js l7-client|l7-server <next port> <cert dir>     HTTP/1.1 framed on the raw sockets
 *
 * l7: each connection in has its own connection out (keep-alive both); request and response heads are read
 * with the mesh's strict HTTP/1.1 framer (src/core/http1: every field checked, the smuggling rules) and
 * forwarded as they came without the lines of hop-by-hop fields (no string per field), the request given one header (`x-lean-hop: 1`, the work of
 * adding an identity or a deadline), bodies passed on in their framing (length, chunked, to the close), and
 * what one read produced goes out in one write (one TLS record). What it leaves out is the mesh and a
 * listener's duties (timeouts, the cap, slow peers): it is a measure of the data path a raw-socket proxy
 * would have, not a proxy. A message it refuses ends the connection, so a row never counts an answer it
 * mangled. Prints `listening PORT`.
 */
import { readFileSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import tls from 'node:tls';
import { ChunkedReader, ChunkError } from '../../src/core/http1/chunked.js';
import { equalsLower } from '../../src/core/http1/bytes.js';
import { HOP_BY_HOP } from '../../src/edge/hop-by-hop.js';
import { FIELD_SPAN, HeadError, HTTP1_DEFAULT_LIMITS, readRequestHead, readResponseHead, type RequestHead, type ResponseHead } from '../../src/core/http1/head.js';

const [role = '', nextPort, certDir = ''] = process.argv.slice(2);
if (!/^(l4|l7)-(client|server)$/.test(role)) throw new Error(`usage: lean-proxy.js l4-client|l4-server|l7-client|l7-server <next port> <cert dir> (got ${role})`);
const file = (name: string) => readFileSync(path.join(certDir, name));
const port = Number(nextPort);
const clientSide = role.endsWith('client');
const tlsOut = clientSide ? { ca: file('ca.crt'), cert: file('client.crt'), key: file('client.key'), servername: 'bench.local' } : undefined;

const HOP = Buffer.from('x-lean-hop: 1\r\n');
const CRLF = Buffer.from('\r\n');
// The mesh's hop-by-hop fields (src/edge/hop-by-hop.ts), less Transfer-Encoding: here the body goes on in its
// own framing, so its framing field goes with it.
const DROPPED = [...HOP_BY_HOP].filter((name) => name !== 'transfer-encoding');
const DROPPED_LENGTHS = new Set(DROPPED.map((name) => name.length));

function hopByHop(buf: Buffer, from: number, to: number): boolean {
  // Most names are none of these lengths and are not compared.
  return DROPPED_LENGTHS.has(to - from) && DROPPED.some((name) => equalsLower(buf, from, to, name));
}

/**
 * The head's bytes as they came, without the lines of hop-by-hop fields, `extra` before its blank line, as
 * slices pushed to `out`: no string is made for a field.
 */
function forwardHead(buf: Buffer, head: RequestHead | ResponseHead, extra: Buffer | null, out: Buffer[]): void {
  const spans = head.fieldSpans;
  let from = 0;
  for (let i = 0; i < spans.length; i += FIELD_SPAN) {
    if (!hopByHop(buf, spans[i]!, spans[i + 1]!)) continue;
    if (spans[i]! > from) out.push(buf.subarray(from, spans[i]));
    from = spans[i + 4]! + 2;
  }
  if (extra) out.push(buf.subarray(from, head.headBytes - 2), extra, CRLF);
  else out.push(buf.subarray(from, head.headBytes));
}

/**
 * One direction of an l7 connection, framed by src/core/http1 as a raw-socket proxy would: heads read
 * strictly and forwarded as they came less the hop-by-hop lines, bodies passed on in their own framing (length, chunked, to the close).
 */
class Framer {
  #held: Buffer | null = null;
  #left = 0;
  #chunked: ChunkedReader | null = null;
  #toClose = false;
  constructor(
    private readonly to: net.Socket,
    private readonly requests: boolean,
    /** The methods of the requests sent and not yet answered, oldest first (a HEAD's answer has no body). */
    private readonly methods: string[],
    private readonly fail: () => void,
  ) {}

  push(chunk: Buffer): void {
    // Only a head is ever held. It is read again only when an LF has come (the readers scan from the start: head.ts).
    if (this.#held && !chunk.includes(0x0a)) {
      this.#held = Buffer.concat([this.#held, chunk]);
      if (this.#held.length > HTTP1_DEFAULT_LIMITS.maxHeadBytes) this.fail();
      return;
    }
    const data = this.#held ? Buffer.concat([this.#held, chunk]) : chunk;
    this.#held = null;
    const out: Buffer[] = [];
    let i = 0;
    while (i < data.length) {
      if (this.#left > 0 || this.#toClose) {
        const n = this.#toClose ? data.length - i : Math.min(this.#left, data.length - i);
        out.push(data.subarray(i, i + n));
        this.#left -= this.#toClose ? 0 : n;
        i += n;
        continue;
      }
      if (this.#chunked) {
        const end = this.#chunked.read(data, i);
        if (end instanceof ChunkError) return this.fail();
        out.push(data.subarray(i, end));
        i = end;
        if (this.#chunked.done) this.#chunked = null;
        continue;
      }
      const rest = i === 0 ? data : data.subarray(i);
      const head = this.requests ? readRequestHead(rest) : readResponseHead(rest, this.methods[0] ?? 'GET');
      if (head === undefined) {
        this.#held = rest;
        break;
      }
      if (head instanceof HeadError) return this.fail();
      if ('method' in head) {
        this.methods.push(head.method);
        forwardHead(rest, head, HOP, out);
      } else {
        if (head.status >= 200) this.methods.shift();
        forwardHead(rest, head, null, out);
      }
      i += head.headBytes;
      if (head.framing.kind === 'length') this.#left = head.framing.length;
      else if (head.framing.kind === 'chunked') this.#chunked = new ChunkedReader();
      else if (head.framing.kind === 'close') this.#toClose = true;
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
    const methods: string[] = [];
    const request = new Framer(out, true, methods, close);
    const response = new Framer(inbound, false, methods, close);
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
