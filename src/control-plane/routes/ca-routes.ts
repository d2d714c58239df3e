/** The CA's state and its root rotation (admin): stage a new root, then retire the old one. */
import { z } from 'zod';
import { suppliedAuthority } from '../ca/authority.js';
import { badRequest } from '../http/http-error.js';
import type { Route } from '../http/router.js';
import { validate } from '../http/validation.js';
import { noCa } from './certificate-routes.js';
import type { ApiDeps } from './deps.js';

const rotateSchema = z.strictObject({
  /** PEM: the new CA certificate, then its chain up to the root (an operator's CA); a self-signed root is made when absent. */
  certificate: z
    .string()
    .min(1)
    .max(64 * 1024)
    .optional(),
  /** PEM of its private key. */
  key: z
    .string()
    .min(1)
    .max(64 * 1024)
    .optional(),
});

const retireSchema = z.strictObject({
  /** Retire even though leaves signed by the old root may still be valid. */
  force: z.boolean().default(false),
});

export function caRoutes({ ca }: ApiDeps): Route[] {
  return [
    {
      method: 'GET',
      path: '/v1/ca',
      auth: 'any',
      handle: () => ({ status: 200, body: ca ? { ...ca.status(), bundle: ca.bundle } : noCa() }),
    },
    {
      method: 'POST',
      path: '/v1/ca/rotate',
      body: 'optional',
      auth: 'admin',
      handle: async ({ body }) => {
        if (!ca) noCa();
        const req = validate(rotateSchema, body ?? {}, 'rotation');
        if ((req.certificate === undefined) !== (req.key === undefined)) throw badRequest('give both certificate and key, or neither (a new self-signed root is made)');
        let supplied;
        if (req.certificate !== undefined) {
          try {
            supplied = suppliedAuthority(req.certificate, req.key!, 'the new CA');
          } catch (err) {
            throw badRequest((err as Error).message);
          }
        }
        return { status: 200, body: await ca.rotate(supplied) };
      },
    },
    {
      method: 'POST',
      path: '/v1/ca/retire',
      body: 'optional',
      auth: 'admin',
      handle: async ({ body }) => {
        if (!ca) noCa();
        const { force } = validate(retireSchema, body ?? {}, 'retirement');
        return { status: 200, body: await ca.retire(force) };
      },
    },
  ];
}
