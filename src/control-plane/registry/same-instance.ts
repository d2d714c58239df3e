import type { Instance } from '../../config/instance.js';

/** Whether two registrations look the same to a watcher (a re-registration of identical data changes nothing). */
export function sameInstance(a: Instance, b: Instance): boolean {
  if (a.weight !== b.weight || a.address !== b.address || a.port !== b.port) return false;
  const ka = Object.keys(a.labels);
  const kb = Object.keys(b.labels);
  return ka.length === kb.length && ka.every((k) => a.labels[k] === b.labels[k]);
}
