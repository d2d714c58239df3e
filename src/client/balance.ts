import { ErrorCode, MeshError } from '../core/errors.js';
import type { Filter } from '../core/filter.js';
import type { Attempt } from './attempt.js';
import type { MeshCall } from './call.js';
import type { Destination } from './destination.js';

/**
 * The concrete layer: choose an endpoint of the destination for this attempt.
 * It sits below retry so that every attempt picks again.
 */
export function balance(dest: Destination): Filter<MeshCall, Attempt> {
  return (next) => {
    const pickAndSend = (call: MeshCall): Promise<Attempt> => {
      const ep = dest.balancer.pick(dest.endpoints.list, call);
      if (!ep) {
        return Promise.reject(
          new MeshError(ErrorCode.NO_ENDPOINTS, `service ${dest.name} has no endpoints`, {
            rejected: true,
            retryable: false,
            details: { service: dest.name, namespace: dest.namespace },
          }),
        );
      }
      call.endpoint = ep;
      return next(call);
    };
    // Not async: once discovery has answered, a pick costs no extra promise.
    return (call) => (dest.isReady ? pickAndSend(call) : dest.whenReady(call).then(() => pickAndSend(call)));
  };
}
