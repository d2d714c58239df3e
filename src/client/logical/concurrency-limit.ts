/**
 * The per-destination concurrency limit (Envoy's max_requests and
 * max_pending_requests): at most maxConcurrent calls in flight to the
 * destination, at most maxPending waiting for a slot, and beyond that the call
 * fails fast with HYPHAE_ERR_CONCURRENCY_LIMIT (rejected: nothing was sent)
 * instead of queueing without bound behind a backend that hangs.
 *
 * A slot is held by the CALL, from its first attempt until its response body
 * ends or it fails: retries of the call reuse it (the retry budget bounds
 * those), and a response the application has not finished reading still
 * counts, since its connection is still busy. A waiting call leaves the queue
 * when it is aborted (its deadline, the application).
 */
import { ErrorCode, MeshError } from '../../core/errors.js';
import type { Filter } from '../../core/filter.js';
import type { ConcurrencyLimiter, LimiterWaiter } from '../../resilience/concurrency-limiter.js';
import type { Attempt } from '../endpoint/attempt.js';
import type { MeshCall } from '../call/mesh-call.js';

/** The limiter, or where to find the one in force for a call (a destination rebuilds it when its limits change); undefined: no limit. */
export type LimiterSource = ConcurrencyLimiter | ((call: MeshCall) => ConcurrencyLimiter | undefined);

export function concurrencyLimit(source: LimiterSource, onLimited?: (call: MeshCall, limiter: ConcurrencyLimiter) => void): Filter<MeshCall, Attempt> {
  const limiterOf = typeof source === 'function' ? source : () => source;
  return (next) => {
    // The slot goes back when the call ends — its body done, or the call failed (whoever runs the stack ends
    // the call either way: the dispatcher with complete/fail, or abandon when it hands the request to DNS) —
    // to the limiter it came from, even if the destination has a new one by then. Registered before sending,
    // so the layer adds no promise and no closure per call.
    const run = (call: MeshCall, limiter: ConcurrencyLimiter): Promise<Attempt> => {
      call.onDone(limiter.releaser);
      return next(call);
    };
    return (call) => {
      const limiter = limiterOf(call);
      if (limiter === undefined) return next(call);
      if (limiter.tryAcquire()) return run(call, limiter);
      return wait(limiter, call, run, onLimited);
    };
  };
}

function wait(
  limiter: ConcurrencyLimiter,
  call: MeshCall,
  run: (call: MeshCall, limiter: ConcurrencyLimiter) => Promise<Attempt>,
  onLimited: ((call: MeshCall, limiter: ConcurrencyLimiter) => void) | undefined,
): Promise<Attempt> {
  if (call.abortReason !== undefined) return Promise.reject(call.abortReason);
  return new Promise<Attempt>((resolve, reject) => {
    const waiter: LimiterWaiter = {
      grant() {
        call.setOnAbort(undefined);
        resolve(run(call, limiter));
      },
    };
    if (!limiter.enqueue(waiter)) {
      onLimited?.(call, limiter);
      // The service whose limit it is: the backend the route chose (a split's other service, a gateway's backend).
      const service = call.logical.goesTo(call.destination).name;
      reject(
        new MeshError(ErrorCode.CONCURRENCY_LIMIT, `too many calls to ${service}: ${limiter.maxConcurrent} in flight and ${limiter.maxPending} waiting`, {
          rejected: true,
          details: { service, maxConcurrent: limiter.maxConcurrent, maxPending: limiter.maxPending },
        }),
      );
      return;
    }
    call.setOnAbort((err) => {
      call.setOnAbort(undefined);
      if (limiter.cancel(waiter)) reject(err);
    });
  });
}
