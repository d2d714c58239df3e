/** Join tokens (admin only): create, list, revoke. */
import { tokenRequestSchema } from '../../config/wire.js';
import { badRequest } from '../http/http-error.js';
import type { Route } from '../http/router.js';
import { validate } from '../http/validation.js';
import { noCa } from './certificate-routes.js';
import type { ApiDeps } from './deps.js';

/** API tokens are jt_<16 hex> (join) or vt_<16 hex> (viewer), configured ones cfg_<12 hex> (see hyphae token list). */
const TOKEN_ID = /^((?:jt|vt)_[0-9a-f]{16}|cfg_[0-9a-f]{12})$/;

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
        if (req.kind === 'viewer') return { status: 201, body: await tokens.createViewer(req.ttlSeconds) };
        return { status: 201, body: await tokens.create(req.service!, req.namespace ?? 'default', req.ttlSeconds) };
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
        if (!TOKEN_ID.test(id)) throw badRequest(`"${id.slice(0, 60)}" is not a token id: jt_ or vt_<16 hex digits>, or cfg_<12 hex digits> (see hyphae token list)`);
        return { status: 200, body: { revoked: await tokens.revoke(id) } };
      },
    },
  ];
}
