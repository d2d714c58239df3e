/**
 * The server (inbound) stack, assembled here and nowhere else. Outermost first:
 *
 *   drain        while draining, every response says Connection: close
 *   (later: strip identity headers -> tracing -> load shedding -> authorization -> deadline)
 *   application  the listeners the user registered for 'request', unchanged
 *
 * Inbound layers are synchronous functions of (req, res): they decide before
 * the application runs and add no promise per request.
 */
import type http from 'node:http';
import type { Drainer } from './drain.js';

export type InboundHandler = (req: http.IncomingMessage, res: http.ServerResponse) => void;
export type InboundFilter = (next: InboundHandler) => InboundHandler;

export function buildServerStack(drainer: Drainer, app: InboundHandler): InboundHandler {
  const layers: InboundFilter[] = [
    // First, so that even a request refused by a later layer tells its client to reconnect elsewhere.
    drainLayer(drainer),
  ];
  let handler = app;
  for (let i = layers.length - 1; i >= 0; i--) handler = layers[i]!(handler);
  return handler;
}

function drainLayer(drainer: Drainer): InboundFilter {
  return (next) => (req, res) => {
    if (drainer.draining) res.setHeader('connection', 'close');
    next(req, res);
  };
}
