/**
 * The idle timeout of the listener's piped connections: one coarse sweep over every pair, each
 * `idleTimeoutMs / 4`, that cuts a pair whose two sockets read nothing (neither peer sent a byte) for
 * `idleTimeoutMs`. A pair is cut between `idleTimeoutMs` and `1.25 x idleTimeoutMs` of silence.
 *
 * Not `socket.setTimeout` on both sockets: Node re-arms a socket's timer on each of its reads and writes,
 * four or more times per request through the gateway, a cost paid per chunk for a check that matters once
 * in minutes. The sweep costs nothing per chunk and keeps the defence: a half-close whose other half never
 * follows, an instance that accepted and stalls, a peer that stops reading (the other side is then no
 * longer read, so the pair goes silent) are all cut as before.
 */
import type net from 'node:net';

interface Pair {
  a: net.Socket;
  b: net.Socket;
  /** Bytes read by both sockets at the last sweep that saw them move, and when that was. */
  read: number;
  movedAt: number;
  onIdle: () => void;
}

export class IdleSweep {
  readonly #idleTimeoutMs: number;
  readonly #pairs = new Set<Pair>();
  #timer: NodeJS.Timeout | undefined;

  constructor(idleTimeoutMs: number) {
    this.#idleTimeoutMs = idleTimeoutMs;
  }

  /** Watches a pair until the returned function is called; `onIdle` once it was silent for the timeout. */
  add(a: net.Socket, b: net.Socket, onIdle: () => void): () => void {
    const pair: Pair = { a, b, read: a.bytesRead + b.bytesRead, movedAt: performance.now(), onIdle };
    this.#pairs.add(pair);
    // Only while pairs are piped: an idle gateway runs no timer. unref: it never holds the process open.
    this.#timer ??= setInterval(() => this.#sweep(), Math.max(1, Math.floor(this.#idleTimeoutMs / 4))).unref();
    return () => {
      this.#pairs.delete(pair);
      if (this.#pairs.size === 0) this.stop();
    };
  }

  stop(): void {
    clearInterval(this.#timer);
    this.#timer = undefined;
  }

  #sweep(): void {
    const now = performance.now();
    for (const p of this.#pairs) {
      const read = p.a.bytesRead + p.b.bytesRead;
      if (read !== p.read) {
        p.read = read;
        p.movedAt = now;
      } else if (now - p.movedAt >= this.#idleTimeoutMs) {
        this.#pairs.delete(p);
        p.onIdle();
      }
    }
    if (this.#pairs.size === 0) this.stop();
  }
}
