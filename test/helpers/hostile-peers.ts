/**
 * Peers that hold a listener's connections without finishing anything: they
 * say nothing, send part of a TLS ClientHello (and maybe half-close), dribble
 * it byte by byte, send garbage, or send an HTTP request one byte at a time
 * (slowloris). Every socket is half-open on our side (`allowHalfOpen`), so a
 * FIN from the server does not close it for us: the server has to let go of
 * its end by itself. Traffic to 127.0.0.1 only; every loop is bounded.
 */
import { readdirSync } from 'node:fs';
import type http from 'node:http';
import net from 'node:net';
import tls from 'node:tls';
import { waitUntil } from './wait.js';

let hello: Promise<Buffer> | undefined;
const noop = () => {};

/** A real ClientHello (Node's), captured once from a throwaway listener. */
export function clientHello(): Promise<Buffer> {
  return (hello ??= new Promise<Buffer>((resolve, reject) => {
    const server = net.createServer((s) => {
      s.once('data', (d: Buffer) => {
        resolve(d);
        s.destroy();
        server.close();
      });
    });
    server.on('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const c = tls.connect({ port: (server.address() as net.AddressInfo).port, host: '127.0.0.1', servername: 'localhost', rejectUnauthorized: false });
      c.on('error', () => {});
      c.on('close', () => c.destroy());
    });
  }));
}

export type PeerKind = 'silent' | 'half-close' | 'partial-hello' | 'partial-hello-half-close' | 'slow-hello' | 'garbage';

export interface Peer {
  socket: net.Socket;
  kind: PeerKind;
  /** Resolves with ms since connect when the server ends the connection (FIN or reset), never for our own close. */
  endedByServer: Promise<number>;
  /** Whether the server has ended it yet. */
  ended(): boolean;
  close(): void;
}

/** One hostile TCP peer of `kind` to 127.0.0.1:port. */
export async function hostilePeer(port: number, kind: PeerKind, byteIntervalMs = 200): Promise<Peer> {
  const bytes = await clientHello();
  const started = performance.now();
  const socket = net.connect({ port, host: '127.0.0.1', allowHalfOpen: true });
  let closedByUs = false;
  let endedAt: number | undefined;
  let timer: NodeJS.Timeout | undefined;
  const endedByServer = new Promise<number>((resolve) => {
    const mark = () => {
      clearInterval(timer);
      if (closedByUs || endedAt !== undefined) return;
      endedAt = performance.now() - started;
      resolve(endedAt);
    };
    socket.on('end', mark);
    socket.on('close', mark);
    socket.on('error', mark);
  });
  // Read whatever the server says: an answer left unread (Node's 408 racing a listener's own deadline) keeps
  // 'end' from being emitted, and with allowHalfOpen 'close' too, so a peer the server did cut looked held.
  socket.on('data', noop);
  socket.on('connect', () => {
    if (kind === 'half-close') socket.end();
    if (kind === 'partial-hello' || kind === 'partial-hello-half-close') socket.write(bytes.subarray(0, 20));
    if (kind === 'partial-hello-half-close') socket.end();
    if (kind === 'garbage') socket.write('GET /v1/health HTTP/1.1\r\nHost: x\r\n\r\n');
    if (kind === 'slow-hello') {
      // Never the whole hello: the last byte is kept back, whatever the interval.
      let i = 0;
      timer = setInterval(() => {
        if (i < bytes.length - 1 && !socket.destroyed) socket.write(bytes.subarray(i, ++i));
      }, byteIntervalMs);
    }
  });
  return {
    socket,
    kind,
    endedByServer,
    ended: () => endedAt !== undefined,
    close() {
      closedByUs = endedAt === undefined;
      clearInterval(timer);
      socket.destroy();
    },
  };
}

export interface SlowRequest {
  /** Everything the server sent. */
  received(): string;
  /** ms since the first byte was sent (or, for a silent peer, since it was watched), when the server ended the connection. */
  endedByServer: Promise<number>;
  close(): void;
}

/**
 * Read everything the server sends on `socket` and tell when it ends the connection. Reading matters: a
 * server that answers before it closes (Node's 408) leaves those bytes in a socket nobody reads, and such a
 * socket never emits 'end' or 'close', whatever the server did.
 */
export function watchPeer(socket: net.Socket, onEnd: () => void = () => {}): SlowRequest {
  let received = '';
  const started = performance.now();
  let closedByUs = false;
  socket.on('data', (d: Buffer) => (received += d.toString('latin1')));
  const endedByServer = new Promise<number>((resolve) => {
    let done = false;
    const mark = () => {
      onEnd();
      if (done || closedByUs) return;
      done = true;
      resolve(performance.now() - started);
    };
    socket.on('end', mark);
    socket.on('close', mark);
    socket.on('error', mark);
  });
  return {
    received: () => received,
    endedByServer,
    close() {
      closedByUs = true;
      onEnd();
      socket.destroy();
    },
  };
}

/**
 * Send `head` at once, then `drip` one byte every `intervalMs` (bounded by its length), on a connection
 * `connect` made (TLS or not, already connected), never finishing the request.
 */
export function slowRequest(socket: net.Socket, head: string, drip: string, intervalMs: number): SlowRequest {
  let i = 0;
  const timer = setInterval(() => {
    if (i < drip.length && socket.writable) socket.write(drip[i++]!);
  }, intervalMs);
  const peer = watchPeer(socket, () => clearInterval(timer));
  socket.write(head);
  return peer;
}

/**
 * `count` requests on one keep-alive connection, with an idle pause of `idleMs` before the last: a listener
 * must keep a connection idle between requests until its keep-alive timeout, whatever its header and request
 * timeouts. The pause is the scenario (a client that thinks between requests), not a wait for an event; each
 * answer is waited for with a stall ceiling. Resolves with each answer's status code, then whether the server
 * had ended the connection by the end (it must not have).
 */
export async function requestsAcrossIdle(socket: net.Socket, request: string, idleMs: number, count = 3): Promise<{ statuses: number[]; endedByServer: boolean }> {
  const peer = watchPeer(socket);
  let ended = false;
  void peer.endedByServer.then(() => (ended = true));
  const statuses = () => [...peer.received().matchAll(/HTTP\/1\.1 (\d{3}) [^\r\n]*\r\n/g)].map((m) => Number(m[1]));
  try {
    for (let i = 0; i < count; i++) {
      if (i === count - 1) await new Promise((resolve) => setTimeout(resolve, idleMs));
      if (ended) break;
      socket.write(request);
      await waitUntil(() => statuses().length > i || ended, 10_000, `answer ${i + 1} of ${count}`);
    }
    return { statuses: statuses(), endedByServer: ended };
  } finally {
    peer.close();
  }
}

/** Open descriptors of a process (Linux). */
export function fdCount(pid: number): number {
  return readdirSync(`/proc/${pid}/fd`).length;
}

export { waitUntil };

/** Resolves with `p`'s value, or with undefined after `boundMs` (for waits whose failure is told by a later assertion). */
export function within<T>(p: Promise<T>, boundMs: number): Promise<T | undefined> {
  return new Promise((resolve) => {
    const timer = setTimeout(() => resolve(undefined), boundMs);
    void p.then((v) => {
      clearTimeout(timer);
      resolve(v);
    });
  });
}

/**
 * Answers `bytes` as the peer takes them (backpressure: never more than a 64 KiB chunk ahead): an answer larger
 * than every buffer between a handler and a peer that reads nothing. Resolves with how it ended: 'finished'
 * (all written) or 'closed early' (the connection went first).
 */
export function streamBig(res: http.ServerResponse, bytes: number): Promise<'finished' | 'closed early'> {
  const chunk = Buffer.alloc(64 * 1024, 120);
  let sent = 0;
  const ended = new Promise<'finished' | 'closed early'>((resolve) => res.once('close', () => resolve(res.writableFinished ? 'finished' : 'closed early')));
  res.writeHead(200, { 'content-length': String(bytes) });
  const pump = () => {
    while (sent < bytes) {
      const n = Math.min(chunk.length, bytes - sent);
      sent += n;
      if (!res.write(n === chunk.length ? chunk : chunk.subarray(0, n))) return void res.once('drain', pump);
    }
    res.end();
  };
  pump();
  return ended;
}
