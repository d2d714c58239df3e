import { ErrorCode, isMeshError, MeshError } from '../../core/errors.js';
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
      const ep = backend === undefined ? dest.endpoints.all.pick(call) : backend.subset.pick(call);
      if (!ep) return Promise.reject(noEndpoints(call));
      call.endpoint = ep;
      return next(call);
    };
    // Not async: once discovery has answered, a pick costs no extra promise.
    return (call) => {
      const owner = call.logical.backend?.destination ?? dest;
      if (owner.isReady) return pickAndSend(call);
      const ready = owner.whenReady(call);
      // A backend in another service that does not exist is this route's problem, not an unknown host
      // (which `unknownServices: 'passthrough'` would send to DNS).
      return (owner === dest ? ready : ready.catch((err: unknown) => Promise.reject(unknownBackend(call, err)))).then(() => pickAndSend(call));
    };
  };
}

function noEndpoints(call: MeshCall): MeshError {
  const b = call.logical.backend;
  const owner = b?.destination ?? call.destination;
  const route = call.logical.route;
  const subset = b?.subset.name;
  let message = `service ${owner.name} has no endpoints`;
  if (subset !== undefined) {
    message = b!.subset.defined
      ? `subset ${subset} of service ${owner.name} has no endpoints (no instance carries its labels right now)`
      : `subset ${subset} of service ${owner.name} is not defined (Service.spec.subsets)`;
  }
  return new MeshError(ErrorCode.NO_ENDPOINTS, message, {
    rejected: true,
    retryable: false,
    details: { service: owner.name, namespace: owner.namespace, ...(subset !== undefined ? { subset } : {}), ...(route ? { route } : {}) },
  });
}

function unknownBackend(call: MeshCall, err: unknown): unknown {
  if (!isMeshError(err, ErrorCode.SERVICE_NOT_FOUND)) return err;
  const b = call.logical.backend!;
  const route = call.logical.route;
  return new MeshError(ErrorCode.NO_ENDPOINTS, `route rule ${route ?? '?'} of service ${call.destination.name} sends to ${b.label}, which the mesh does not know`, {
    rejected: true,
    cause: err,
    details: { service: call.destination.name, backend: b.label, route },
  });
}
