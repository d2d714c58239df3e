/**
 * The bytes of one piped connection, one way: every chunk read from `from` is written to `to`, the reading
 * paused while `to` holds more than its high-water mark and resumed on its 'drain', and a FIN passed on
 * (`from`'s end ends `to`: TLS close_notify, then the half-close). Errors and closes are the caller's (the
 * pair is torn down together).
 *
 * Not `from.pipe(to)`: pipe() does the same through more machinery per chunk (its own 'data' wrapper,
 * unpipe and error bookkeeping, 'drain' handlers added and removed), and the gateway does nothing per
 * chunk but move it, so that machinery was a measurable part of its CPU per request
 * (docs/benchmarks.md, the mesh gateway).
 */
import type net from 'node:net';

export function relay(from: net.Socket, to: net.Socket): void {
  from.on('data', (chunk: Buffer) => {
    if (!to.write(chunk)) from.pause();
  });
  to.on('drain', () => from.resume());
  from.on('end', () => to.end());
}
