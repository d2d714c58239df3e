/**
 * The keep-alive race server of test/helpers/keepalive-server.ts, as a mesh
 * service: built with the library (createMesh + wrapServer, mTLS from the
 * control plane in HYPHAE_*), registered as HYPHAE_SERVICE.
 * Usage: node keepalive-service.js <idleMs> <crossWindowMs>
 *
 * - A connection idle for `idleMs` after its last response is closed by the
 *   server (its own timer; Node's keepAliveTimeout, which adds 1 s and sends a
 *   Keep-Alive hint, is off), so clients cannot know the timeout.
 * - The race — the server closing an idle connection while the client's next
 *   request is already on the wire — is microseconds wide on loopback, so it
 *   is reproduced: a request that arrives on a reused connection within the
 *   last `crossWindowMs` before the idle deadline has "crossed" the close, and
 *   the server closes the connection without answering, alternately with a
 *   TCP RST (under the TLS layer) and a plain close.
 *
 * Prints `ready port=<port>`; on SIGUSR2 prints `stats {...}` (served,
 * crossedRst, crossedFin, idleClosed).
 */
import http from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { createMesh, meshOptionsFromEnv } from '../../src/index.js';

const idleMs = Number(process.argv[2] ?? 50);
const crossMs = Number(process.argv[3] ?? 4);
const stats = { served: 0, crossedRst: 0, crossedFin: 0, idleClosed: 0 };
const lastDone = new WeakMap<Socket, number>();
const timers = new WeakMap<Socket, NodeJS.Timeout>();

const mesh = await createMesh(meshOptionsFromEnv());
const server = mesh.wrapServer(
  http.createServer((req, res) => {
    const sock = req.socket;
    clearTimeout(timers.get(sock));
    const last = lastDone.get(sock);
    if (last !== undefined && performance.now() - last >= idleMs - crossMs) {
      if ((stats.crossedRst + stats.crossedFin) % 2 === 0) {
        stats.crossedRst++;
        // A TLS socket sits on the TCP one: reset that.
        const tcp = ((sock as unknown as { _parent?: Socket })._parent ?? sock) as Socket;
        tcp.resetAndDestroy();
        sock.destroy();
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
  }),
);
server.keepAliveTimeout = 0;
server.listen(0, '127.0.0.1', () => console.log(`ready port=${(server.address() as AddressInfo).port}`));
await mesh.registered(server);
console.log('registered');
process.on('SIGUSR2', () => console.log(`stats ${JSON.stringify(stats)}`));
process.on('SIGTERM', () => void mesh.close().then(() => process.exit(0)));
