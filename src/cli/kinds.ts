/** Resource kinds as people type them on the command line: `route`, `routes`, `Route`, `svc`... */
import { resourceKinds } from '../config/resource-kinds.js';
import type { ResourceKind } from '../config/resources.js';
import { UsageError } from './command.js';

const ALIASES: Record<string, ResourceKind> = {
  svc: 'Service',
  authz: 'AuthorizationPolicy',
  authorizationpolicies: 'AuthorizationPolicy',
  peerauth: 'PeerAuthentication',
  gw: 'Gateway',
  export: 'ServiceExport',
  exports: 'ServiceExport',
};

export function parseKind(value: string): ResourceKind {
  const v = value.toLowerCase();
  const kind = ALIASES[v] ?? resourceKinds.find((k) => k.toLowerCase() === v || `${k.toLowerCase()}s` === v);
  if (!kind) throw new UsageError(`unknown kind "${value}"; known kinds: ${resourceKinds.join(', ')}`);
  return kind;
}
