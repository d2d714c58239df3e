/**
 * The keep-alive race, reproduced on the server side (shared by
 * keepalive-server.ts, a plain process, and keepalive-service.ts, a mesh
 * service):
 *
 * - A connection idle for `idleMs` after its last response is closed by the
 *   server (its own timer; Node's keepAliveTimeout, which adds 1 s and sends a
 *   Keep-Alive hint, is off), so clients cannot know the timeout — as with
 *   servers that send no hint (Go, nginx...).
 * - The race — the server closing an idle connection while the client's next
 *   request is already on the wire — is microseconds wide on loopback, so it
 *   is reproduced: a request that arrives on a reused connection within the
 *   last `crossWindowMs` before the idle deadline has "crossed" the close, and
 *   the server closes the connection without answering, alternately with a
 *   TCP RST (ECONNRESET on the client) and a plain close (undici's "other side
 *   closed").
 */
import type http from 'node:http';
import type { Socket } from 'node:net';

export interface RaceStats {
  served: number;
  crossedRst: number;
  crossedFin: number;
  idleClosed: number;
}

/** The request handler; `false` when it closed the connection instead of answering. */
export function keepAliveRace(idleMs: number, crossMs: number): { stats: RaceStats; handle(req: http.IncomingMessage, res: http.ServerResponse): boolean } {
  const stats: RaceStats = { served: 0, crossedRst: 0, crossedFin: 0, idleClosed: 0 };
  const lastDone = new WeakMap<Socket, number>();
  const timers = new WeakMap<Socket, NodeJS.Timeout>();
  const handle = (req: http.IncomingMessage, res: http.ServerResponse): boolean => {
    const sock = req.socket;
    clearTimeout(timers.get(sock));
    const last = lastDone.get(sock);
    if (last !== undefined && performance.now() - last >= idleMs - crossMs) {
      if ((stats.crossedRst + stats.crossedFin) % 2 === 0) {
        stats.crossedRst++;
        // Under TLS the socket sits on the TCP one: reset that.
        const tcp = ((sock as unknown as { _parent?: Socket })._parent ?? sock) as Socket;
        tcp.resetAndDestroy();
        sock.destroy();
      } else {
        stats.crossedFin++;
        sock.destroy();
      }
      return false;
    }
    stats.served++;
    res.on('finish', () => {
      lastDone.set(sock, performance.now());
      timers.set(
        sock,
        setTimeout(() => {
          stats.idleClosed++;
          sock.destroy();
        }, idleMs),
      );
    });
    res.end('ok');
    return true;
  };
  return { stats, handle };
}
