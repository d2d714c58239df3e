import { ErrorCode, MeshError } from '../../core/errors.js';
import type { Filter } from '../../core/filter.js';
import type { Attempt } from '../endpoint/attempt.js';
import type { MeshCall } from '../call/mesh-call.js';
import type { BackendService } from './backend-service.js';

/**
 * The concrete layer: choose an endpoint for this attempt, from the backend
 * the route layer chose (a subset, maybe of another service) or from the
 * whole destination. It sits below retry so that every attempt picks again.
 */
export function balance(dest: BackendService): Filter<MeshCall, Attempt> {
  return (next) => {
    const pickAndSend = (call: MeshCall): Promise<Attempt> => {
      const backend = call.logical.backend;
      const failed = call.logical.failedEndpoints;
      const ep = (backend === undefined ? dest.endpoints.all : backend.subset).pick(call, failed);
      if (!ep) return Promise.reject(noEndpoints(call));
      call.endpoint = ep;
      return next(call);
    };
    // Not async: once discovery has answered, a pick costs no extra promise. A backend the route layer chose
    // has answered already (routing/rule.ts waits for it, as its policy is read above this layer).
    return (call) => {
      const owner = call.logical.backend?.destination ?? dest;
      if (owner.isReady) return pickAndSend(call);
      return owner.whenReady(call).then(() => pickAndSend(call));
    };
  };
}

function noEndpoints(call: MeshCall): MeshError {
  const b = call.logical.backend;
  const owner = b?.destination ?? call.destination;
  const route = call.logical.route;
  const subset = b?.subset.name;
  const cluster = b?.subset.cluster;
  const where = cluster === undefined ? '' : ` in cluster ${cluster}`;
  let message = `service ${owner.name} has no endpoints${where}`;
  if (subset !== undefined) {
    message = b!.subset.defined
      ? `subset ${subset} of service ${owner.name} has no endpoints${where} (no instance carries its labels right now)`
      : `subset ${subset} of service ${owner.name} is not defined (Service.spec.subsets)`;
  }
  return new MeshError(ErrorCode.NO_ENDPOINTS, message, {
    rejected: true,
    retryable: false,
    details: { service: owner.name, namespace: owner.namespace, ...(subset !== undefined ? { subset } : {}), ...(cluster !== undefined ? { cluster } : {}), ...(route ? { route } : {}) },
  });
}
