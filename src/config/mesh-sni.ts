/**
 * The TLS server name a mesh call sends when it reaches an instance of another cluster (issue 17), and
 * that a mesh gateway routes by without decrypting: `<service>.<namespace>.<cluster>.hyphae`. All three
 * parts are DNS labels (names.ts), so the name is a valid SNI host name and parses back unambiguously.
 * Consul names its mesh gateway SNI the same way (service, namespace, datacenter, then a fixed suffix).
 */
import { clusterNameSchema, nameSchema } from './names.js';

export const MESH_SNI_SUFFIX = 'hyphae';

export interface MeshSniTarget {
  service: string;
  namespace: string;
  cluster: string;
}

export function meshSni(target: MeshSniTarget): string {
  return `${target.service}.${target.namespace}.${target.cluster}.${MESH_SNI_SUFFIX}`;
}

/** The target a server name names, or undefined when it is not a mesh SNI name (any case is accepted: SNI is case-insensitive). */
export function parseMeshSni(servername: string): MeshSniTarget | undefined {
  if (servername.length > 253) return undefined;
  const parts = servername.toLowerCase().split('.');
  if (parts.length !== 4 || parts[3] !== MESH_SNI_SUFFIX) return undefined;
  const [service, namespace, cluster] = parts as [string, string, string];
  if (!nameSchema.safeParse(service).success || !nameSchema.safeParse(namespace).success || !clusterNameSchema.safeParse(cluster).success) return undefined;
  return { service, namespace, cluster };
}
