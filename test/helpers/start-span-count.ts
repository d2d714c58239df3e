/**
 * How many spans an SDK was asked for while `run` ran: every tracer of one
 * SDK shares its Tracer class, so counting calls to that class's startSpan
 * counts them all (behind the API's proxy tracer too). The root-sampling
 * tests compare it with the spans exported: the mesh must ask the SDK for no
 * span the sampler would drop.
 */
export async function startSpanCalls(tracer: object, run: () => Promise<void>): Promise<number> {
  const real = (tracer as { _getTracer?: () => object })._getTracer?.() ?? tracer;
  const proto = Object.getPrototypeOf(real) as { startSpan: (...a: unknown[]) => unknown };
  const startSpan = proto.startSpan;
  let asked = 0;
  proto.startSpan = function (this: unknown, ...a: unknown[]) {
    asked++;
    return startSpan.apply(this, a);
  };
  try {
    await run();
  } finally {
    proto.startSpan = startSpan;
  }
  return asked;
}
