/** Instances and leases: register, heartbeat, deregister, list. */
import { z } from 'zod';
import { ErrorCode } from '../../core/errors.js';
import { registerRequestSchema } from '../../config/instance.js';
import { DEFAULT_NAMESPACE } from '../../config/names.js';
import { notFound } from '../http/http-error.js';
import type { Route } from '../http/router.js';
import { validate } from '../http/validation.js';
import { shortId } from '../log.js';
import type { ApiDeps } from './deps.js';
import { queryName } from './names.js';

/** A heartbeat carries nothing today; `{}` is accepted so that clients may always send a JSON object. */
const heartbeatSchema = z.strictObject({});

function unknownLease(leaseId: string) {
  return notFound(
    `lease ${shortId(leaseId)} is not known (it expired, was replaced, or predates a control-plane restart); register the instance again`,
    ErrorCode.LEASE_NOT_FOUND,
  );
}

export function registryRoutes({ registry }: ApiDeps): Route[] {
  return [
    {
      method: 'POST',
      path: '/v1/instances',
      body: 'required',
      handle: async ({ body }) => ({ status: 201, body: await registry.register(validate(registerRequestSchema, body, 'registration')) }),
    },
    {
      method: 'GET',
      path: '/v1/instances',
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
      handle: async ({ params, body }) => {
        if (body !== undefined) validate(heartbeatSchema, body, 'heartbeat');
        const ttlSeconds = await registry.renew(params.leaseId!);
        if (ttlSeconds === undefined) throw unknownLease(params.leaseId!);
        return { status: 200, body: { ttlSeconds } };
      },
    },
    {
      method: 'DELETE',
      path: '/v1/leases/:leaseId',
      handle: async ({ params }) => {
        if (!(await registry.deregister(params.leaseId!))) throw unknownLease(params.leaseId!);
        return { status: 204 };
      },
    },
  ];
}
