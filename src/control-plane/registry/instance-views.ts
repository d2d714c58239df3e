/**
 * The read side both registries (memory, etcd) answer in the same shape: they
 * keep instances per service (`namespace/name` -> members), and list them from
 * here, so that every watcher, CLI and replica sees one order.
 */
import type { Instance } from '../../config/instance.js';

type Members = Map<string, { instance: Instance }>;

/** The instances of one service, ordered by id so every watcher sees the same order. */
export function sortedInstances(members: Members | undefined): Instance[] {
  if (!members) return [];
  return [...members.values()].map((m) => m.instance).sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
}

/** Every instance, optionally of one namespace and/or one service name. */
export function listInstances(services: Map<string, Members>, filter: { namespace?: string; name?: string }): Instance[] {
  const out: Instance[] = [];
  for (const [ref, members] of services) {
    const i = ref.indexOf('/');
    if (filter.namespace !== undefined && filter.namespace !== ref.slice(0, i)) continue;
    if (filter.name !== undefined && filter.name !== ref.slice(i + 1)) continue;
    out.push(...sortedInstances(members));
  }
  return out;
}

/** How many characters of labels a registration's log line carries: 64 labels of the longest kind are 24 KB. */
const LOG_LABEL_CHARS = 400;

/** ` k=v k=v…` for a log line, cut short (with the count) past LOG_LABEL_CHARS. */
export function labelsForLog(labels: Record<string, string>): string {
  const all = Object.entries(labels)
    .map(([k, v]) => ` ${k}=${v}`)
    .join('');
  if (all.length <= LOG_LABEL_CHARS) return all;
  return `${all.slice(0, LOG_LABEL_CHARS)}… (${Object.keys(labels).length} labels)`;
}
