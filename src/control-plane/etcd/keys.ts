/**
 * Where a mesh's state lives in etcd, relative to the prefix (`/hyphae/` by
 * default). One place, so docs/architecture.md and the code cannot disagree:
 *
 *   config/revision                              its mod_revision IS the configuration revision
 *   config/resources/<Kind>/<namespace>/<name>   a resource, JSON
 *   config/writes/<token>                        written with each configuration write, on a short lease: how a retried
 *                                                write recognises that its first try committed (etcd-store.ts)
 *   registry/instances/<namespace>/<name>/<id>   an instance, JSON, attached to its etcd lease
 *   registry/leases/<leaseId>                    lease id -> etcd lease, attached to the same lease
 *   registry/services/<namespace>/<name>         the service has had an instance (no lease)
 *   ca/state                                     the CA: trust domain, bundle version, authority ids (oldest first), active one
 *   ca/authorities/<id>                          an authority: certificate and chain, its private key AES-256-GCM encrypted
 *   auth/admin                                   SHA-256 digest of the mesh's admin token
 *   auth/tokens/<id>                             a join token: service, namespace, SHA-256 digest of its secret, expiry
 */
import type { ResourceId } from '../store/store.js';

export const CONFIG_REVISION = 'config/revision';
export const RESOURCES = 'config/resources/';
export const CONFIG_WRITES = 'config/writes/';
export const INSTANCES = 'registry/instances/';
export const LEASES = 'registry/leases/';
export const SERVICES = 'registry/services/';
export const CA = 'ca/';
export const CA_STATE = 'ca/state';
export const CA_AUTHORITIES = 'ca/authorities/';
export const AUTH = 'auth/';
export const ADMIN_TOKEN = 'auth/admin';
export const JOIN_TOKENS = 'auth/tokens/';

export function authorityKey(id: string): string {
  return `${CA_AUTHORITIES}${id}`;
}

export function joinTokenKey(id: string): string {
  return `${JOIN_TOKENS}${id}`;
}

export function resourceKey(id: ResourceId): string {
  return `${RESOURCES}${id.kind}/${id.namespace}/${id.name}`;
}

/** Instance ids are `address:port` or `[v6]:port`: never a `/`, but encode anyway so a key always has four parts. */
export function instanceKey(service: string, instanceId: string): string {
  return `${INSTANCES}${service}/${encodeURIComponent(instanceId)}`;
}

export function leaseKey(leaseId: string): string {
  return `${LEASES}${leaseId}`;
}

export function serviceKey(service: string): string {
  return `${SERVICES}${service}`;
}

/** `config/resources/Kind/ns/name` -> its id; undefined for anything else. */
export function parseResourceKey(key: string): ResourceId | undefined {
  if (!key.startsWith(RESOURCES)) return undefined;
  const [kind, namespace, name, ...rest] = key.slice(RESOURCES.length).split('/');
  if (!kind || !namespace || !name || rest.length > 0) return undefined;
  return { kind: kind as ResourceId['kind'], namespace, name };
}

/** `registry/instances/ns/name/id` -> service ref and instance id. */
export function parseInstanceKey(key: string): { service: string; instanceId: string } | undefined {
  if (!key.startsWith(INSTANCES)) return undefined;
  const [namespace, name, id, ...rest] = key.slice(INSTANCES.length).split('/');
  if (!namespace || !name || !id || rest.length > 0) return undefined;
  return { service: `${namespace}/${name}`, instanceId: decodeURIComponent(id) };
}

/** `registry/services/ns/name` -> service ref. */
export function parseServiceKey(key: string): string | undefined {
  if (!key.startsWith(SERVICES)) return undefined;
  const [namespace, name, ...rest] = key.slice(SERVICES.length).split('/');
  return namespace && name && rest.length === 0 ? `${namespace}/${name}` : undefined;
}
