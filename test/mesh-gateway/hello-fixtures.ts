/**
 * ClientHellos for the mesh gateway's tests: real ones (Node's TLS client, captured off a TCP listener)
 * and hand-built ones for the cases a real client never sends (two server names, a name with a NUL...).
 */
import net, { type AddressInfo } from 'node:net';
import tls from 'node:tls';

/** The first TLS record(s) Node's client sends to `servername` (none: no SNI), whole. */
export function captureHello(servername: string | undefined): Promise<Buffer> {
  return new Promise<Buffer>((resolve, reject) => {
    const server = net.createServer((s) => {
      let got = Buffer.alloc(0);
      s.on('data', (d: Buffer) => {
        got = Buffer.concat([got, d]);
        if (got.length >= 5 && got.length >= 5 + got.readUInt16BE(3)) {
          resolve(got.subarray(0, 5 + got.readUInt16BE(3)));
          s.destroy();
          server.close();
        }
      });
    });
    server.on('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const port = (server.address() as AddressInfo).port;
      // An IP host: Node sends no SNI unless told to.
      const c = tls.connect({ port, host: '127.0.0.1', ...(servername ? { servername } : {}), rejectUnauthorized: false });
      c.on('error', () => {});
      c.on('close', () => c.destroy());
    });
  });
}

/** `hello`'s handshake message cut into records of at most `size` bytes each. */
export function splitRecords(hello: Buffer, size: number): Buffer {
  const message = hello.subarray(5);
  const out: Buffer[] = [];
  for (let i = 0; i < message.length; i += size) {
    const part = message.subarray(i, i + size);
    const header = Buffer.from([0x16, 0x03, 0x01, 0, 0]);
    header.writeUInt16BE(part.length, 3);
    out.push(header, part);
  }
  return Buffer.concat(out);
}

function u16(n: number): Buffer {
  const b = Buffer.alloc(2);
  b.writeUInt16BE(n);
  return b;
}

/** An extension: type, then its data with a 16-bit length. */
export function extension(type: number, data: Buffer): Buffer {
  return Buffer.concat([u16(type), u16(data.length), data]);
}

/** A server_name extension with these host names (RFC 6066 §3). */
export function serverName(...names: (string | Buffer)[]): Buffer {
  const entries = Buffer.concat(names.map((n) => (typeof n === 'string' ? Buffer.from(n, 'latin1') : n)).map((n) => Buffer.concat([Buffer.from([0]), u16(n.length), n])));
  return extension(0, Buffer.concat([u16(entries.length), entries]));
}

/** A ClientHello record with these extensions (undefined: no extensions block at all). */
export function buildHello(extensions: Buffer[] | undefined): Buffer {
  const body = Buffer.concat([
    Buffer.from([0x03, 0x03]),
    Buffer.alloc(32, 7),
    Buffer.from([0]),
    u16(2),
    Buffer.from([0x13, 0x01]),
    Buffer.from([1, 0]),
    ...(extensions === undefined ? [] : [u16(Buffer.concat(extensions).length), ...extensions]),
  ]);
  const handshake = Buffer.concat([Buffer.from([1, (body.length >> 16) & 0xff, (body.length >> 8) & 0xff, body.length & 0xff]), body]);
  return Buffer.concat([Buffer.from([0x16, 0x03, 0x01]), u16(handshake.length), handshake]);
}
