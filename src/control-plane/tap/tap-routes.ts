/** `hyphae tap`: open a tap (SSE, admin only) and feed it (instances, with their join token). */
import { parseDuration } from '../../config/duration.js';
import { DEFAULT_TAP_DURATION_MS, DEFAULT_TAP_MAX_RPS, MAX_TAP_DURATION_MS, MAX_TAP_MAX_RPS, TAP_PATH, tapBatchSchema, tapSpecSchema } from '../../config/tap.js';
import { ErrorCode } from '../../core/errors.js';
import { badRequest, notFound } from '../http/http-error.js';
import type { Route } from '../http/router.js';
import { validate } from '../http/validation.js';
import type { ApiDeps } from '../routes/deps.js';
import { checkName } from '../routes/names.js';
import type { TapHub, TapRequest } from './tap-hub.js';

export function tapRoutes({ registry, store }: ApiDeps, taps: TapHub): Route[] {
  return [
    {
      method: 'GET',
      path: `${TAP_PATH}/:namespace/:service`,
      query: ['maxRps', 'duration', 'pathPrefix', 'method'],
      // Admin only: paths (and the callers' identities) can carry what a read-only viewer should not see.
      auth: 'admin',
      handle: ({ req, res, params, query }) => {
        const namespace = checkName(params.namespace!, 'namespace');
        const name = checkName(params.service!, 'service');
        const request = tapRequest(query);
        // A tap of a name nobody runs would wait for ever on a typo: say so instead.
        if (!registry.hasSeen(namespace, name) && store.get({ kind: 'Service', namespace, name }) === undefined) {
          throw notFound(`service ${namespace}/${name} has no Service resource and no instance has ever registered: nothing to tap`, ErrorCode.SERVICE_NOT_FOUND);
        }
        taps.open(req, res, `${namespace}/${name}`, request);
        return undefined;
      },
    },
    {
      method: 'POST',
      // One segment, where opening takes two: the two routes never match the same path.
      path: `${TAP_PATH}/:tapId`,
      body: 'required',
      // An instance posts as its own service (checked against the tap's); a viewer may not (not a GET).
      auth: 'any',
      handle: ({ params, body, principal }) => {
        const batch = validate(tapBatchSchema, body, 'tap samples');
        taps.receive(params.tapId!, principal, batch.samples, batch.dropped);
        return { status: 204 };
      },
    },
  ];
}

function single(query: URLSearchParams, key: string): string | undefined {
  const all = query.getAll(key);
  if (all.length > 1) throw badRequest(`query parameter "${key}" is given ${all.length} times; give it once`);
  return all[0];
}

function tapRequest(query: URLSearchParams): TapRequest {
  const rps = single(query, 'maxRps');
  const maxRps = rps === undefined ? DEFAULT_TAP_MAX_RPS : Number(rps);
  if (!Number.isInteger(maxRps) || maxRps < 1 || maxRps > MAX_TAP_MAX_RPS) throw badRequest(`query parameter "maxRps" must be a whole number from 1 to ${MAX_TAP_MAX_RPS}`);
  const duration = single(query, 'duration');
  const durationMs = duration === undefined ? DEFAULT_TAP_DURATION_MS : parseDuration(duration);
  if (durationMs === undefined || durationMs < 1000 || durationMs > MAX_TAP_DURATION_MS) {
    throw badRequest(`query parameter "duration" must be a duration such as 30s or 5m, from 1s to ${MAX_TAP_DURATION_MS / 60_000}m`);
  }
  const request: TapRequest = { maxRps, durationMs };
  const pathPrefix = single(query, 'pathPrefix');
  if (pathPrefix !== undefined) request.pathPrefix = validate(tapSpecSchema.shape.pathPrefix, pathPrefix, 'query parameter "pathPrefix"');
  const method = single(query, 'method');
  if (method !== undefined) request.method = validate(tapSpecSchema.shape.method, method, 'query parameter "method"');
  return request;
}
