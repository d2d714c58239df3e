/** Configuration resources: apply (one or many, all-or-nothing, or a dry run), get, list, delete. */
import { z } from 'zod';
import { ErrorCode, isMeshError } from '../../core/errors.js';
import { resourceKinds, resourceSchema, type Resource, type ResourceKind } from '../../config/resources.js';
import { toIssues, type ValidationIssue } from '../../config/validate.js';
import { badRequest, notFound } from '../http/http-error.js';
import type { Route } from '../http/router.js';
import { invalid, validate } from '../http/validation.js';
import { canonicalJson } from '../store/canonical-json.js';
import { keyOf, idOf, type ApplyAction, type ResourceId, type Store } from '../store/store.js';
import { validateBatch, validateDelete } from '../validation/validate-batch.js';
import type { Located } from '../validation/world.js';
import type { ApiDeps } from './deps.js';
import { checkName } from './names.js';
import { baseRevision, writeOptions } from './if-match.js';

/** One apply is one transaction and one file rewrite; bigger changes are split by the client. */
export const MAX_ITEMS_PER_APPLY = 1000;

/**
 * Validation and the write are separate steps; a write in between makes the store refuse ours, and we validate again.
 * Replicas on etcd make that more frequent (every replica's writers race for one revision), hence room for several.
 */
const MAX_CONFLICT_RETRIES = 10;

const listSchema = z.strictObject({ items: z.array(z.unknown()).max(MAX_ITEMS_PER_APPLY) });

/**
 * The body of PUT /v1/resources: one resource, or `{items: [...]}`. Items that
 * fail the schema are reported at `items[i].<field>`; the others are returned
 * with the issues, so that their semantic problems are listed too.
 */
export function parseResources(body: unknown): { items: Located[]; issues: ValidationIssue[] } {
  if (Array.isArray(body)) throw badRequest('send several resources as {"items": [...]}, not as a bare array');
  const isList = typeof body === 'object' && body !== null && 'items' in body && !('kind' in body);
  if (!isList) return { items: [{ resource: validate(resourceSchema, body, 'resource', ErrorCode.INVALID_CONFIG), at: '' }], issues: [] };

  const { items } = validate(listSchema, body, 'resource list', ErrorCode.INVALID_CONFIG);
  const issues: ValidationIssue[] = [];
  const resources: Located[] = [];
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
    else {
      firstAt.set(key, i);
      resources.push({ resource: r.data, at: `items[${i}].` });
    }
  });
  return { items: resources, issues };
}

/** Issues in document order (items[2] before items[10]), schema problems before semantic ones within an item. */
function byItem(a: ValidationIssue, b: ValidationIssue): number {
  return itemIndex(a.path) - itemIndex(b.path);
}

function itemIndex(path: string): number {
  const m = /^items\[(\d+)\]/.exec(path);
  return m ? Number(m[1]) : -1;
}

function rejected(issues: ValidationIssue[]) {
  return invalid('resources (nothing was applied)', issues, ErrorCode.INVALID_CONFIG);
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

function dryRunFlag(query: URLSearchParams): boolean {
  const all = query.getAll('dryRun');
  if (all.length === 0) return false;
  if (all.length > 1) throw badRequest('query parameter "dryRun" is given more than once; give it once');
  const v = all[0]!.toLowerCase();
  if (v === 'true' || v === '1' || v === '') return true;
  if (v === 'false' || v === '0') return false;
  throw badRequest(`query parameter "dryRun" must be true or false, got "${all[0]!.slice(0, 20)}"`);
}

/** What an apply would do, item by item, with the stored and the new version (for `hyphae diff`). */
function plan(store: Store, items: readonly Located[]) {
  return items.map(({ resource }) => {
    const id = idOf(resource);
    const current = store.get(id)?.resource;
    const action: ApplyAction = !current ? 'created' : canonicalJson(current) === canonicalJson(resource) ? 'unchanged' : 'updated';
    return { ...id, action, ...(current ? { before: current } : {}), after: resource as Resource };
  });
}

function isConflict(err: unknown): boolean {
  return isMeshError(err, ErrorCode.CONFLICT);
}

export function resourceRoutes({ store, registry }: ApiDeps): Route[] {
  return [
    {
      method: 'PUT',
      path: '/v1/resources',
      body: 'required',
      auth: 'admin',
      query: ['dryRun'],
      handle: async ({ req, body, query }) => {
        const dryRun = dryRunFlag(query);
        const { expectedRevision: ifMatch } = writeOptions(req);
        const { items, issues: schemaIssues } = parseResources(body);
        for (let attempt = 0; ; attempt++) {
          const revision = await baseRevision(store, ifMatch);
          const issues = [...schemaIssues, ...validateBatch(store, registry, items)].sort(byItem);
          if (issues.length > 0) throw rejected(issues);
          if (dryRun) return { status: 200, body: { revision, dryRun: true, results: plan(store, items) } };
          try {
            return {
              status: 200,
              body: await store.apply(
                items.map((i) => i.resource),
                { expectedRevision: revision },
              ),
            };
          } catch (err) {
            // The caller's own If-Match is theirs to resolve: their 409 names the current revision.
            if (!isConflict(err) || ifMatch !== undefined || attempt >= MAX_CONFLICT_RETRIES) throw err;
          }
        }
      },
    },
    {
      method: 'GET',
      path: '/v1/resources',
      query: ['kind'],
      auth: 'any',
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
      auth: 'any',
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
      auth: 'admin',
      query: ['dryRun'],
      handle: async ({ req, params, query }) => {
        const id = parseId(params);
        const dryRun = dryRunFlag(query);
        const { expectedRevision: ifMatch } = writeOptions(req);
        for (let attempt = 0; ; attempt++) {
          const revision = await baseRevision(store, ifMatch);
          if (!store.get(id)) throw missing(id);
          const issues = validateDelete(store, registry, id);
          if (issues.length > 0) throw invalid(`delete of ${id.kind} ${id.namespace}/${id.name} (nothing was deleted)`, issues, ErrorCode.INVALID_CONFIG);
          if (dryRun) return { status: 200, body: { revision, dryRun: true } };
          try {
            const next = await store.delete(id, { expectedRevision: revision });
            if (next === undefined) throw missing(id);
            return { status: 200, body: { revision: next } };
          } catch (err) {
            if (!isConflict(err) || ifMatch !== undefined || attempt >= MAX_CONFLICT_RETRIES) throw err;
          }
        }
      },
    },
  ];
}
