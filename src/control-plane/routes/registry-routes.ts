/** Instances and leases: register, heartbeat, deregister, list. */
import { z } from 'zod';
import { ErrorCode } from '../../core/errors.js';
import { registerRequestSchema } from '../../config/instance.js';
import { DEFAULT_NAMESPACE } from '../../config/names.js';
import { requireIdentity } from '../auth/authorize.js';
import type { Principal } from '../auth/principal.js';
import { notFound } from '../http/http-error.js';
import type { Route } from '../http/router.js';
import { validate } from '../http/validation.js';
import { shortId } from '../log.js';
import type { ApiDeps } from './deps.js';
import { queryName } from './names.js';

/** A heartbeat carries nothing today; `{}` is accepted so that clients may always send a JSON object. */
const heartbeatSchema = z.strictObject({});

function unknownLease(leaseId: string) {
  return notFound(`lease ${shortId(leaseId)} is not known (it expired, was replaced, or predates a control-plane restart); register the instance again`, ErrorCode.LEASE_NOT_FOUND);
}

export function registryRoutes({ registry }: ApiDeps): Route[] {
  /** A join token renews and removes only its own service's leases. */
  const ownLease = async (leaseId: string, principal: Principal | undefined, action: string) => {
    const owner = await registry.leaseOwner(leaseId);
    if (!owner) throw unknownLease(leaseId);
    requireIdentity(principal, owner.namespace, owner.name, action);
  };
  return [
    {
      method: 'POST',
      path: '/v1/instances',
      body: 'required',
      auth: 'any',
      handle: async ({ body, principal }) => {
        const req = validate(registerRequestSchema, body, 'registration');
        requireIdentity(principal, req.namespace, req.service, 'register an instance of');
        // Counted against the join token's quota; the admin token is not (registry/quotas.ts says why).
        const owner = principal?.kind === 'join' ? principal.tokenId : undefined;
        return { status: 201, body: await registry.register(req, owner) };
      },
    },
    {
      method: 'GET',
      path: '/v1/instances',
      auth: 'any',
      query: ['service', 'namespace'],
      handle: ({ query }) => {
        const name = queryName(query, 'service');
        // A service name alone means the default namespace, as in service references.
        const namespace = queryName(query, 'namespace') ?? (name !== undefined ? DEFAULT_NAMESPACE : undefined);
        return { status: 200, body: { instances: registry.list({ namespace, name }) } };
      },
    },
    {
      method: 'PUT',
      path: '/v1/leases/:leaseId',
      body: 'optional',
      auth: 'any',
      handle: async ({ params, body, principal }) => {
        if (body !== undefined) validate(heartbeatSchema, body, 'heartbeat');
        await ownLease(params.leaseId!, principal, 'renew a lease of');
        const ttlSeconds = await registry.renew(params.leaseId!);
        if (ttlSeconds === undefined) throw unknownLease(params.leaseId!);
        return { status: 200, body: { ttlSeconds } };
      },
    },
    {
      method: 'DELETE',
      path: '/v1/leases/:leaseId',
      auth: 'any',
      handle: async ({ params, principal }) => {
        await ownLease(params.leaseId!, principal, 'deregister an instance of');
        if (!(await registry.deregister(params.leaseId!))) throw unknownLease(params.leaseId!);
        return { status: 204 };
      },
    },
  ];
}
