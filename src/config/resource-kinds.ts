/** The kinds of resource, apart from their schemas (./resources.ts re-exports it): the CLI parses kinds on every command, without zod. */
import type { ResourceKind } from './resources.js';

export const resourceKinds: readonly ResourceKind[] = ['Service', 'Route', 'AuthorizationPolicy', 'PeerAuthentication', 'Gateway', 'ServiceExport'];
