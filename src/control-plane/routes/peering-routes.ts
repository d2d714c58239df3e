/**
 * Peering between clusters (docs/usage.md, "Peering"): tokens made here for a peer, peerings made here
 * from a peer's token, their list and deletion (admin token), and the link a peer's control plane holds
 * open (its own credential, from the token; no API token).
 */
import { z } from 'zod';
import { nameSchema, DEFAULT_NAMESPACE } from '../../config/names.js';
import { ErrorCode, isMeshError } from '../../core/errors.js';
import { HttpError } from '../http/http-error.js';
import type { Route } from '../http/router.js';
import { validate } from '../http/validation.js';
import { peerRef } from '../peering/exports.js';
import { peerAddressSchema } from '../peering/token.js';
import { MAX_PEER_ADDRESSES } from '../peering/limits.js';
import { noCa } from './certificate-routes.js';
import type { ApiDeps } from './deps.js';

const tokenRequestSchema = z.strictObject({
  /** The cluster that will use the token (dc1). */
  peer: nameSchema,
  /** This control plane's URLs as the peer reaches them (the CLI sends the one it used). */
  addresses: z.array(peerAddressSchema).min(1).max(MAX_PEER_ADDRESSES),
  /** Gateway model: the service whose instances (mesh gateways) the peer is given for every exported service. */
  gateway: z.strictObject({ name: nameSchema, namespace: nameSchema.default(DEFAULT_NAMESPACE) }).optional(),
});

const peerRequestSchema = z.strictObject({
  token: z
    .string()
    .min(1)
    .max(256 * 1024),
});

export function peeringRoutes({ peering, ca, hub }: ApiDeps): Route[] {
  return [
    {
      method: 'POST',
      path: '/v1/peerings/tokens',
      body: 'required',
      auth: 'admin',
      handle: async ({ body }) => {
        if (!ca) noCa();
        const req = validate(tokenRequestSchema, body, 'peering token request');
        const token = await peering.makeToken({ peer: req.peer, addresses: req.addresses, ca: ca.bundle.roots.join('\n'), ...(req.gateway ? { gateway: req.gateway } : {}) });
        return { status: 201, body: { peer: req.peer, token } };
      },
    },
    {
      method: 'POST',
      path: '/v1/peerings',
      body: 'required',
      auth: 'admin',
      handle: async ({ body }) => {
        const req = validate(peerRequestSchema, body, 'peering request');
        try {
          return { status: 201, body: { peering: await peering.peer(req.token) } };
        } catch (err) {
          if (isMeshError(err, ErrorCode.PEERING_TOKEN_INVALID)) throw new HttpError(400, ErrorCode.PEERING_TOKEN_INVALID, err.message, { cause: err });
          throw err;
        }
      },
    },
    {
      method: 'GET',
      path: '/v1/peerings',
      auth: 'admin',
      handle: () => ({ status: 200, body: { peerings: peering.list() } }),
    },
    {
      method: 'DELETE',
      path: '/v1/peerings/:peer',
      auth: 'admin',
      handle: async ({ params }) => ({ status: 200, body: { peer: params.peer!, deleted: await peering.remove(params.peer!) } }),
    },
    {
      method: 'GET',
      path: '/v1/peering/stream',
      // The peer's own credentials (client certificate and secret), checked below: no API token opens it.
      auth: 'none',
      handle: ({ req, res }) => {
        const peer = peering.authenticateLink(req);
        hub.open(req, res, [peerRef(peer)], peering.streamToken(peer));
        peering.streamOpened(peer, (listener) => res.on('close', listener));
        return undefined;
      },
    },
  ];
}
