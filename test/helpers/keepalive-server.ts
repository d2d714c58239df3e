/**
 * A real HTTP server process whose keep-alive idle timeout is short, for the
 * keep-alive race test. Usage: node keepalive-server.js <idleMs> <crossWindowMs>
 *
 * - A connection idle for `idleMs` after its last response is closed by the
 *   server (a timer, as Node's keepAliveTimeout does, without Node's extra 1 s).
 *   No Keep-Alive hint is sent, as many servers (Go, nginx...) do not send one,
 *   so the client cannot know the server's timeout.
 * - The race itself — the server's idle timer firing while the client's next
 *   request is already on the wire — is a window of microseconds on loopback,
 *   so it is reproduced deterministically: a request that arrives on a reused
 *   connection within the last `crossWindowMs` before the idle deadline has
 *   "crossed" the server's close: the server closes the connection without
 *   answering it, alternately with a RST (ECONNRESET on the client) and a FIN
 *   (undici's UND_ERR_SOCKET "other side closed").
 *
 * Prints `listening <port>`. GET /stats (on a fresh connection) answers the
 * counts as JSON.
 */
import http from 'node:http';
import type { Socket } from 'node:net';

const idleMs = Number(process.argv[2] ?? 50);
const crossMs = Number(process.argv[3] ?? 4);
const stats = { served: 0, crossedRst: 0, crossedFin: 0, idleClosed: 0 };
const lastDone = new WeakMap<Socket, number>();
const timers = new WeakMap<Socket, NodeJS.Timeout>();

const server = http.createServer((req, res) => {
  const sock = req.socket;
  clearTimeout(timers.get(sock));
  if (req.url === '/stats') {
    res.setHeader('connection', 'close');
    res.end(JSON.stringify(stats));
    return;
  }
  const last = lastDone.get(sock);
  if (last !== undefined && performance.now() - last >= idleMs - crossMs) {
    if ((stats.crossedRst + stats.crossedFin) % 2 === 0) {
      stats.crossedRst++;
      sock.resetAndDestroy();
    } else {
      stats.crossedFin++;
      sock.destroy();
    }
    return;
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
});
// Our own idle timer above replaces Node's (which adds 1 s and sends a Keep-Alive hint).
server.keepAliveTimeout = 0;
server.listen(0, '127.0.0.1', () => {
  const addr = server.address();
  console.log(`listening ${typeof addr === 'object' && addr ? addr.port : 0}`);
});
process.on('SIGTERM', () => process.exit(0));
