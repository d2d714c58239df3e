/** The watch stream (SSE) and changes to what an open stream follows. */
import { watchUpdateSchema } from '../../config/wire.js';
import { badRequest, forbidden, notFound } from '../http/http-error.js';
import type { Route } from '../http/router.js';
import { invalid, validate } from '../http/validation.js';
import { MAX_SERVICES_PER_STREAM, type ApiDeps } from './deps.js';
import { checkRefs, parseRefs } from './names.js';

export function watchRoutes({ hub }: ApiDeps): Route[] {
  return [
    {
      method: 'GET',
      path: '/v1/watch',
      query: ['services'],
      // Any token: a workload watches the services it calls, not only its own.
      auth: 'any',
      handle: ({ req, res, query, principal }) => {
        // `services=a,ns/b`, also accepted as repeated parameters; an empty list opens a stream to add to later.
        const refs = query
          .getAll('services')
          .flatMap((v) => v.split(','))
          .filter((r) => r !== '');
        const services = parseRefs(refs, 'services');
        if (services.length > MAX_SERVICES_PER_STREAM) throw badRequest(`a stream may follow at most ${MAX_SERVICES_PER_STREAM} services`);
        const identity = principal?.kind === 'join' ? `${principal.namespace}/${principal.service}` : undefined;
        hub.open(req, res, services, principal?.kind === 'admin' ? undefined : principal?.tokenId, identity);
        return undefined;
      },
    },
    {
      method: 'POST',
      path: '/v1/watch/:streamId',
      body: 'required',
      auth: 'any',
      handle: ({ params, body, principal }) => {
        const update = validate(watchUpdateSchema, body, 'watch update');
        const add = checkRefs(update.add, 'add');
        const remove = checkRefs(update.remove, 'remove');
        const issues = [...add.issues, ...remove.issues];
        if (issues.length > 0) throw invalid('watch update', issues);
        const following = hub.following(params.streamId!);
        if (following === undefined) throw notFound(`watch stream ${params.streamId!.slice(0, 8)}… is not open; open a new one with GET /v1/watch`);
        // A stream id is not a credential: only whoever opened the stream (or the admin) changes it.
        const owner = hub.tokenOf(params.streamId!);
        if (principal && principal.kind !== 'admin' && owner !== principal.tokenId) {
          throw forbidden(`watch stream ${params.streamId!.slice(0, 8)}… was opened with another token`);
        }
        if (following + add.services.length > MAX_SERVICES_PER_STREAM) throw badRequest(`a stream may follow at most ${MAX_SERVICES_PER_STREAM} services`);
        hub.update(params.streamId!, add.services, remove.services);
        return { status: 204 };
      },
    },
  ];
}
