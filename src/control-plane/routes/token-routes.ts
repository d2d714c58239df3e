/** Join tokens (admin only): create, list, revoke. */
import { tokenRequestSchema } from '../../config/wire.js';
import type { Route } from '../http/router.js';
import { validate } from '../http/validation.js';
import { noCa } from './certificate-routes.js';
import type { ApiDeps } from './deps.js';
import { checkName } from './names.js';

export function tokenRoutes({ tokens }: ApiDeps): Route[] {
  const secure = () => {
    if (!tokens.secure) noCa();
  };
  return [
    {
      method: 'POST',
      path: '/v1/tokens',
      body: 'required',
      auth: 'admin',
      handle: async ({ body }) => {
        secure();
        const req = validate(tokenRequestSchema, body, 'token request');
        return { status: 201, body: await tokens.create(req.service, req.namespace, req.ttlSeconds) };
      },
    },
    {
      method: 'GET',
      path: '/v1/tokens',
      auth: 'admin',
      handle: () => {
        secure();
        return { status: 200, body: { tokens: tokens.list() } };
      },
    },
    {
      method: 'DELETE',
      path: '/v1/tokens/:id',
      auth: 'admin',
      handle: async ({ params }) => {
        secure();
        const id = params.id!;
        if (!/^[a-z]{2,3}_[0-9a-f]{12,16}$/.test(id)) checkName(id, 'token id');
        return { status: 200, body: { revoked: await tokens.revoke(id) } };
      },
    },
  ];
}
