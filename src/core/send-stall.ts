/**
 * A limit on the answer's way out (nginx's `send_timeout`, 60 s): a
 * connection that has bytes waiting to be sent, none of which went out for
 * `ms`, is destroyed.
 *
 * Node bounds a request's way in (header and request timeouts) but nothing
 * bounds its way out: a peer that asks for a large answer and never reads it
 * holds its connection (a slot of the connection cap) and, through
 * backpressure, the handler that writes it, for ever. `server.timeout` is not
 * the tool: it cuts a connection on which nothing moves either way, so a
 * handler that thinks longer than the limit (a long poll, a slow query) would
 * be cut too, and Node re-arms it with the server's value on every request,
 * over any per-socket choice. This looks only at what is queued: a connection
 * with nothing to send is never cut here, however long it waits.
 *
 * No cost per request: one timer per server scans the open connections
 * (every quarter of the limit, at most every 5 s), and each connection costs
 * one map entry from accept to close.
 */
import type { Server as NetServer, Socket } from 'node:net';
import { Server as TlsServer } from 'node:tls';

export const DEFAULT_SEND_TIMEOUT_MS = 60_000;

/** The connections this limit destroyed, so that what ends with them can say why (a watch stream's log line). */
const stalled = new WeakSet<Socket>();

/** True when `socket` was destroyed here: its peer stopped reading for the send timeout. */
export function cutForSendStall(socket: Socket): boolean {
  return stalled.has(socket);
}

/** The scan's period: a stall is cut between `ms` and `ms` + this after its last byte went out. */
export function scanIntervalMs(ms: number): number {
  return Math.min(Math.max(Math.ceil(ms / 4), 25), 5_000);
}

interface Progress {
  /** Bytes handed to the kernel (written and not queued) at the last scan that saw them move. */
  sent: number;
  /** When they last moved, by performance.now(); -1 while nothing is queued. */
  since: number;
}

/**
 * Watch the connections `server` serves ('connection' events: for a wrapped server, what its mTLS front hands
 * to HTTP; 'secureConnection' for an https.Server). `onCut` is told of each connection destroyed. `ms` 0 turns the limit off.
 */
export function limitSendStalls(server: NetServer, ms: number, onCut?: (socket: Socket) => void): void {
  if (ms <= 0) return;
  const open = new Map<Socket, Progress>();
  const watch = (socket: Socket) => {
    if (open.has(socket) || socket.destroyed) return;
    open.set(socket, { sent: 0, since: -1 });
    socket.once('close', () => open.delete(socket));
  };
  // An https.Server's HTTP sockets are its TLS sockets (the raw one under each never queues anything itself);
  // a wrapped server's mTLS front hands its TLS sockets to HTTP as 'connection'.
  server.on(server instanceof TlsServer ? 'secureConnection' : 'connection', watch);
  const scan = () => {
    const now = performance.now();
    for (const [socket, p] of open) {
      const queued = socket.writableLength;
      if (queued === 0) {
        p.since = -1;
        continue;
      }
      const sent = socket.bytesWritten - queued;
      if (p.since < 0 || sent !== p.sent) {
        p.sent = sent;
        p.since = now;
        continue;
      }
      if (now - p.since < ms) continue;
      open.delete(socket);
      stalled.add(socket);
      socket.destroy();
      onCut?.(socket);
    }
  };
  let timer: NodeJS.Timeout | undefined;
  const start = () => {
    if (timer !== undefined) return;
    timer = setInterval(scan, scanIntervalMs(ms));
    timer.unref();
  };
  if (server.listening) start();
  server.on('listening', start);
  server.on('close', () => {
    clearInterval(timer);
    timer = undefined;
  });
}
