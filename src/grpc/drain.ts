/**
 * A grpc-js server's drain, in the order wrapped HTTP servers drain
 * (src/server/drain.ts, whose Drainer runs it): leave the registry, keep
 * serving for the drain delay while every client hears of it, then close the
 * port (serveGrpc's own listener: no new connection, none still handshaking
 * kept) and `tryShutdown` (GOAWAY: no new calls, the ones in flight finish),
 * and `forceShutdown` at the end of the grace period.
 */
import { EventEmitter } from 'node:events';
import type net from 'node:net';
import type { Server } from '@grpc/grpc-js';
import type { Logger } from '../core/logger.js';
import { Drainer, type DrainOptions } from '../server/drain.js';

export function grpcDrainer(
  server: Server,
  shutdown: { tryShutdown: Server['tryShutdown']; forceShutdown: Server['forceShutdown'] },
  closePort: () => void,
  options: DrainOptions,
  deregister: () => Promise<void>,
  logger: Logger,
): Drainer {
  // The Drainer waits for a 'close' event, which a grpc-js server has not: tryShutdown's callback stands for it.
  const closed = new EventEmitter();
  const close = () => closed.emit('close');
  const stop = () => {
    closePort();
    shutdown.tryShutdown.call(server, close);
  };
  return new Drainer(closed as unknown as Pick<net.Server, 'once'>, stop, options, deregister, logger, {
    // tryShutdown already sent every session GOAWAY.
    closeIdle: () => undefined,
    closeAll: () => {
      closePort();
      shutdown.forceShutdown.call(server);
      close();
    },
  });
}
