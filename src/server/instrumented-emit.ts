/**
 * How wrapServer lets HTTP server instrumentations see a request before the
 * mesh's inbound stack does.
 *
 * @opentelemetry/instrumentation-http patches `http.Server.prototype.emit`: on
 * 'request' it starts the SERVER span, makes it current, then calls the
 * original emit. wrapServer replaces the server's own `emit` to run the
 * inbound stack before the application's listeners, which would run the stack
 * outside that span (and, calling the patched emit afterwards, start the
 * span only then). `instrumentedDispatch` keeps the order right: the patched
 * prototype emit runs first, on a one-listener relay whose listener is the
 * mesh stack; and the application is reached through the plain
 * EventEmitter emit, so no instrumentation runs twice. The prototype is read
 * per request, so an instrumentation enabled after wrapServer is honoured.
 */
import { EventEmitter } from 'node:events';
import type http from 'node:http';
import type { InboundHandler } from './stack.js';

const plainEmit = EventEmitter.prototype.emit;

export interface InstrumentedDispatch {
  /** Run for every 'request' instead of the server's emit. */
  dispatch(req: http.IncomingMessage, res: http.ServerResponse): boolean;
  /** The application: the server's 'request' listeners, without any instrumentation patch. */
  app: InboundHandler;
}

export function instrumentedDispatch(server: http.Server, stack: (app: InboundHandler) => InboundHandler): InstrumentedDispatch {
  const app: InboundHandler = (req, res) => void plainEmit.call(server, 'request', req, res);
  const handle = stack(app);
  const relay = new EventEmitter();
  relay.on('request', handle);
  return {
    app,
    dispatch(req, res) {
      const protoEmit = (Object.getPrototypeOf(server) as { emit: typeof plainEmit }).emit;
      if (protoEmit === plainEmit) {
        handle(req, res);
        return true;
      }
      return protoEmit.call(relay, 'request', req, res);
    },
  };
}
