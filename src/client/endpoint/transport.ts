import type { Handler } from '../../core/filter.js';
import { Attempt } from './attempt.js';
import type { MeshCall } from '../call/mesh-call.js';
import { withOptions } from '../call/options-copy.js';

/**
 * The innermost handler: send the call to the endpoint the balancer chose, over
 * that endpoint's undici pool. The application's options go to undici as they
 * are (the pool brings its own origin), so nothing is copied per request.
 * A retry after a reset goes out on a connection of its own (Endpoint.freshPool).
 */
export const transport: Handler<MeshCall, Attempt> = (call) => {
  const attempt = new Attempt(call, call.endpoint!);
  if (call.logical.freshConnection) attempt.endpoint.freshPool.dispatch(withOptions(call.opts, { reset: true }), attempt);
  else attempt.endpoint.pool.dispatch(call.opts, attempt);
  return attempt.promise;
};
