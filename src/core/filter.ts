/**
 * The one contract every layer follows (Finagle's "server as a function",
 * tower's Layer): a Handler turns a call into a response, and a Filter is a
 * function of the next Handler. Stacks are composed once (per destination or
 * per server), never per request, so the closures below exist once per stack.
 */
export type Handler<Req, Res> = (req: Req) => Promise<Res>;
export type Filter<Req, Res> = (next: Handler<Req, Res>) => Handler<Req, Res>;

/** Compose filters outermost first: compose([a, b], h) === a(b(h)). */
export function compose<Req, Res>(filters: readonly Filter<Req, Res>[], terminal: Handler<Req, Res>): Handler<Req, Res> {
  let handler = terminal;
  for (let i = filters.length - 1; i >= 0; i--) handler = filters[i]!(handler);
  return handler;
}
