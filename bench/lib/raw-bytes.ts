/**
 * A load of opaque bytes for an SNI passthrough proxy (bench/mesh-gateway.ts --bytes): each connection
 * opens with a real ClientHello (so the proxy routes it by its SNI as it would a TLS session), then carries
 * fixed-size requests and answers in clear. A proxy that does not decrypt moves bytes whatever they are, so
 * this costs it what a TLS session of the same sizes would, while the load generator and the upstream do
 * no TLS: cheap enough on one core to saturate a proxy's core.
 */
import net, { type AddressInfo } from 'node:net';
import tls from 'node:tls';

/** Sizes of a small keep-alive GET and its answer as TLS records (the TLS rows' order of magnitude). */
export const REQUEST_BYTES = 250;
export const ANSWER_BYTES = 400;

/** The ClientHello Node's TLS client sends for `servername` (captured from a listener that closes at once). */
export async function clientHelloFor(servername: string): Promise<Buffer> {
  const chunks: Buffer[] = [];
  const server = net.createServer((s) => {
    s.once('data', (d: Buffer) => {
      chunks.push(d);
      s.destroy();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const client = tls.connect({ host: '127.0.0.1', port: (server.address() as AddressInfo).port, servername, rejectUnauthorized: false });
  await new Promise<void>((resolve) => client.once('error', () => resolve()).once('close', () => resolve()));
  await new Promise((resolve) => server.close(resolve));
  if (chunks.length === 0) throw new Error('no ClientHello captured');
  return chunks[0]!;
}

/** An upstream that skips the ClientHello record, answers it with one answer, then one answer per request. */
export async function startBytesUpstream(): Promise<{ port: number; close(): Promise<void> }> {
  const answer = Buffer.alloc(ANSWER_BYTES, 'a');
  const sockets = new Set<net.Socket>();
  const server = net.createServer({ noDelay: true }, (s) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
    s.on('error', () => s.destroy());
    let skip = -1;
    let pending = 0;
    let head = Buffer.alloc(0);
    s.on('data', (d: Buffer) => {
      if (skip < 0) {
        head = Buffer.concat([head, d]);
        if (head.length < 5) return;
        skip = 5 + head.readUInt16BE(3);
        d = head;
      }
      if (skip > 0) {
        const n = Math.min(skip, d.length);
        skip -= n;
        d = d.subarray(n);
        if (skip === 0) s.write(answer);
      }
      pending += d.length;
      while (pending >= REQUEST_BYTES) {
        pending -= REQUEST_BYTES;
        s.write(answer);
      }
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    port: (server.address() as AddressInfo).port,
    close: async () => {
      for (const s of sockets) s.destroy();
      await new Promise((resolve) => server.close(resolve));
    },
  };
}

interface Conn {
  socket: net.Socket;
  received: number;
  done: (() => void) | undefined;
  failed: ((err: Error) => void) | undefined;
}

/**
 * A `send` for bench/lib/load.ts: one request on an idle connection to `port` (opened with `hello` the first
 * time), resolved when its answer is whole. The load's concurrency bounds the connections.
 */
export function bytesSend(port: number, hello: Buffer): { send: () => Promise<void>; close(): void } {
  const idle: Conn[] = [];
  const all = new Set<net.Socket>();
  const request = Buffer.alloc(REQUEST_BYTES, 'q');
  const exchange = (c: Conn, bytes: Buffer) =>
    new Promise<void>((resolve, reject) => {
      c.done = resolve;
      c.failed = reject;
      c.socket.write(bytes);
    });
  const open = async (): Promise<Conn> => {
    const socket = net.connect({ port, host: '127.0.0.1', noDelay: true });
    all.add(socket);
    const c: Conn = { socket, received: 0, done: undefined, failed: undefined };
    socket.on('data', (d: Buffer) => {
      c.received += d.length;
      if (c.received >= ANSWER_BYTES) {
        c.received -= ANSWER_BYTES;
        const done = c.done;
        c.done = c.failed = undefined;
        done?.();
      }
    });
    const fail = () => c.failed?.(new Error('connection lost'));
    socket.on('error', fail);
    socket.on('close', fail);
    await exchange(c, hello);
    return c;
  };
  return {
    send: async () => {
      let c = idle.pop();
      while (c?.socket.destroyed) c = idle.pop();
      c ??= await open();
      await exchange(c, request);
      idle.push(c);
    },
    close: () => {
      for (const s of all) s.destroy();
    },
  };
}
