import os from 'node:os';

/**
 * The address other processes should dial. A server bound to a wildcard
 * address is reachable on the host's addresses; we take the first external
 * IPv4 (what most single-NIC hosts and pods have), else loopback.
 */
export function advertiseAddress(bound: string, override?: string): string {
  if (override) return override;
  if (bound !== '0.0.0.0' && bound !== '::' && bound !== '') return bound;
  for (const addrs of Object.values(os.networkInterfaces())) {
    for (const a of addrs ?? []) if (a.family === 'IPv4' && !a.internal) return a.address;
  }
  return '127.0.0.1';
}
