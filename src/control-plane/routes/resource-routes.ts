/** Configuration resources: apply (one or many, all-or-nothing), get, list, delete. */
import { z } from 'zod';
import { ErrorCode } from '../../core/errors.js';
import { resourceKinds, resourceSchema, type Resource, type ResourceKind } from '../../config/resources.js';
import { toIssues, type ValidationIssue } from '../../config/validate.js';
import { badRequest, notFound } from '../http/http-error.js';
import type { Route } from '../http/router.js';
import { invalid, validate } from '../http/validation.js';
import { keyOf, idOf, type ResourceId } from '../store/store.js';
import type { ApiDeps } from './deps.js';
import { checkName } from './names.js';
import { writeOptions } from './if-match.js';

/** One apply is one transaction and one file rewrite; bigger changes are split by the client. */
export const MAX_ITEMS_PER_APPLY = 1000;

const listSchema = z.strictObject({ items: z.array(z.unknown()).max(MAX_ITEMS_PER_APPLY) });

/** The body of PUT /v1/resources: one resource, or `{items: [...]}`; every problem of every item is reported. */
export function parseResources(body: unknown): Resource[] {
  if (Array.isArray(body)) throw badRequest('send several resources as {"items": [...]}, not as a bare array');
  const isList = typeof body === 'object' && body !== null && 'items' in body && !('kind' in body);
  if (!isList) return [validate(resourceSchema, body, 'resource', ErrorCode.INVALID_CONFIG)];

  const { items } = validate(listSchema, body, 'resource list', ErrorCode.INVALID_CONFIG);
  const issues: ValidationIssue[] = [];
  const resources: Resource[] = [];
  const firstAt = new Map<string, number>();
  items.forEach((item, i) => {
    const r = resourceSchema.safeParse(item);
    if (!r.success) {
      issues.push(...toIssues(r.error, `items[${i}]`));
      return;
    }
    const key = keyOf(idOf(r.data));
    const first = firstAt.get(key);
    if (first !== undefined) issues.push({ path: `items[${i}]`, message: `${key} is also items[${first}]; a resource may appear once per apply` });
    else firstAt.set(key, i);
    resources.push(r.data);
  });
  if (issues.length > 0) throw invalid('resources (nothing was applied)', issues, ErrorCode.INVALID_CONFIG);
  return resources;
}

function parseKind(value: string): ResourceKind {
  const kind = resourceKinds.find((k) => k.toLowerCase() === value.toLowerCase());
  if (!kind) throw badRequest(`unknown resource kind "${value.slice(0, 63)}"; known kinds: ${resourceKinds.join(', ')}`);
  return kind;
}

function parseId(params: Record<string, string>): ResourceId {
  return { kind: parseKind(params.kind!), namespace: checkName(params.namespace!, 'namespace'), name: checkName(params.name!, 'name') };
}

function missing(id: ResourceId) {
  return notFound(`no ${id.kind} ${id.namespace}/${id.name}`);
}

export function resourceRoutes({ store }: ApiDeps): Route[] {
  return [
    {
      method: 'PUT',
      path: '/v1/resources',
      body: 'required',
      handle: async ({ req, body }) => ({ status: 200, body: await store.apply(parseResources(body), writeOptions(req)) }),
    },
    {
      method: 'GET',
      path: '/v1/resources',
      query: ['kind'],
      handle: ({ query }) => {
        const kinds = query.getAll('kind');
        if (kinds.length > 1) throw badRequest('query parameter "kind" is given more than once; give it once');
        const kind = kinds[0] === undefined ? undefined : parseKind(kinds[0]);
        return { status: 200, body: { revision: store.revision(), items: store.list(kind).map((s) => s.resource) } };
      },
    },
    {
      method: 'GET',
      path: '/v1/resources/:kind/:namespace/:name',
      handle: ({ params }) => {
        const id = parseId(params);
        const stored = store.get(id);
        if (!stored) throw missing(id);
        return { status: 200, body: { revision: store.revision(), resource: stored.resource } };
      },
    },
    {
      method: 'DELETE',
      path: '/v1/resources/:kind/:namespace/:name',
      handle: async ({ req, params }) => {
        const id = parseId(params);
        const revision = await store.delete(id, writeOptions(req));
        if (revision === undefined) throw missing(id);
        return { status: 200, body: { revision } };
      },
    },
  ];
}
