/**
 * Graceful drain, in the order Linkerd and Kubernetes use: leave the registry
 * first, keep serving while the change reaches every client (drainDelay),
 * stop accepting, ask keep-alive clients to leave (`Connection: close`), and
 * cut what is still open at the grace deadline.
 */
import type http from 'node:http';
import type net from 'node:net';
import { sleep } from '../core/backoff.js';
import type { Logger } from '../core/logger.js';

export interface DrainOptions {
  drainDelayMs: number;
  gracePeriodMs: number;
}

/** How a drain reaches the connections: an http.Server's own methods, or an HTTP/2 server's sessions (h2-sessions.ts). */
export interface DrainConnections {
  /** Ask every connection to go once its requests are answered (idle HTTP/1.1 ones: closed; HTTP/2 sessions: GOAWAY). */
  closeIdle(): void;
  /** Cut every connection still open (the grace deadline). */
  closeAll(): void;
}

export class Drainer {
  #server: Pick<net.Server, 'once'>;
  #connections: DrainConnections;
  #originalClose: () => void;
  #options: DrainOptions;
  #deregister: () => Promise<void>;
  #logger: Logger;
  #promise: Promise<void> | undefined;
  /** Read per response by the inbound stack: while draining, every response closes its connection. */
  draining = false;

  constructor(
    server: http.Server | Pick<net.Server, 'once'>,
    originalClose: () => void,
    options: DrainOptions,
    deregister: () => Promise<void>,
    logger: Logger,
    connections: DrainConnections = httpConnections(server as http.Server),
  ) {
    this.#server = server;
    this.#connections = connections;
    this.#originalClose = originalClose;
    this.#options = options;
    this.#deregister = deregister;
    this.#logger = logger;
  }

  /** One drain at a time; once the server has closed, a later listen() can be drained again. */
  drain(): Promise<void> {
    return (this.#promise ??= this.#run().finally(() => {
      this.draining = false;
      this.#promise = undefined;
    }));
  }

  async #run(): Promise<void> {
    const started = Date.now();
    this.draining = true;
    const grace = this.#options.gracePeriodMs;
    const deregistered = this.#deregister().catch((err: unknown) => {
      // The lease will expire on its own; the drain must go on regardless.
      this.#logger.warn('hyphae: deregistration failed during drain', { error: String(err) });
    });
    await Promise.race([deregistered, sleep(Math.min(2_000, grace))]);
    await sleep(Math.max(0, Math.min(this.#options.drainDelayMs, grace - (Date.now() - started))));
    const closed = new Promise<void>((resolve) => this.#server.once('close', () => resolve()));
    this.#originalClose();
    // Idle keep-alive sockets (HTTP/2: every session, told GOAWAY) would otherwise hold the server open until they time out.
    this.#connections.closeIdle();
    const left = Math.max(0, grace - (Date.now() - started));
    const timer = setTimeout(() => {
      this.#logger.warn('hyphae: grace period over; closing connections still open');
      this.#connections.closeAll();
    }, left);
    timer.unref();
    await closed;
    clearTimeout(timer);
  }
}

function httpConnections(server: http.Server): DrainConnections {
  return { closeIdle: () => server.closeIdleConnections(), closeAll: () => server.closeAllConnections() };
}
