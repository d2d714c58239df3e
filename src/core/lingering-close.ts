/**
 * Lingering close, as nginx's `lingering_close` and Go's server do it: an
 * answer sent before the request body was read (413, 401, 415...) closes the
 * connection, since the rest of the body must not be parsed as the next
 * request. Closed at once, the socket still has the client's unread bytes in
 * its receive queue, or more arrive: the kernel then answers with a reset,
 * and a client still writing its body sees `EPIPE`/`ECONNRESET` instead of
 * the answer (undici fails the request on the write error before it reads the
 * response). So the write side is ended (the answer, then FIN) and whatever
 * the client still sends is read and dropped, for a bounded time and number of
 * bytes, until the client closes its side; then the socket is destroyed.
 *
 * Node's HTTP server ends a `connection: close` response's socket through
 * `socket.destroySoon()` (end, then destroy once flushed); that one socket's
 * `destroySoon` is replaced. Without it (a future Node), the server would
 * call `end()`, and the socket still goes when the client closes or the
 * linger timer fires. The HTTP parser stays attached and drops the body of a
 * request whose answer was sent (Node's `req._dump()`).
 */
import type { IncomingMessage } from 'node:http';
import type { Socket } from 'node:net';

/** Long enough for a client to read an answer and stop writing; short enough that a peer cannot hold the socket. */
export const LINGER_MS = 2_000;
/** What is read and dropped at most, after which the socket goes (the answer has long been sent by then). */
export const LINGER_BYTES = 8 * 1024 * 1024;
/** How often the bytes dropped are counted. */
const LINGER_CHECK_MS = 50;

/** Call before sending an answer with `connection: close` while the request's body is unread. */
export function lingerOnClose(req: IncomingMessage, lingerMs = LINGER_MS, lingerBytes = LINGER_BYTES): void {
  const socket = req.socket as Socket & { destroySoon?: () => void };
  if (socket.destroyed) return;
  socket.destroySoon = () => {
    // bytesRead, not 'data' events: on a plain socket Node's HTTP parser reads the handle directly, and the
    // socket emits no 'data' at all.
    const base = socket.bytesRead;
    const check = setInterval(() => {
      if (socket.bytesRead - base > lingerBytes) socket.destroy();
    }, LINGER_CHECK_MS);
    const timer = setTimeout(() => socket.destroy(), lingerMs);
    check.unref();
    timer.unref();
    socket.once('close', () => {
      clearTimeout(timer);
      clearInterval(check);
    });
    // The client's FIN: it has read what it wanted and sends nothing more.
    socket.once('end', () => socket.destroy());
    socket.end();
  };
  // A body the handler started reading and paused (a limit hit) would stop the parser, and the socket with it.
  if (!req.readableEnded) req.resume();
}
