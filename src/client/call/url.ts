/**
 * URL handling on the hot path, without `new URL()`: mesh calls name a service
 * as the host of an http URL (`http://api/items`), so we only need to split
 * origin from path and recognise a service host.
 */

// In core: the edge (src/edge) splits a forwarded request's URL as mesh.request does, and may not import the client.
export { splitUrl } from '../../core/split-url.js';

const SERVICE_HOST = /^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/;

/**
 * The service name when `origin` addresses a mesh service: plain `http`, a host
 * that is a single DNS label (no dot, no port), and not `localhost`. Anything
 * else (FQDNs, IPs, ports, https) is ordinary traffic and passes through.
 */
export function meshServiceOf(origin: string): string | undefined {
  if (!origin.startsWith('http://')) return undefined;
  let host = origin.slice(7);
  if (host.endsWith('/')) host = host.slice(0, -1);
  // Host names are case-insensitive (http://API/ is api). Origins are cached by the mesh, so this runs once per origin.
  host = host.toLowerCase();
  if (host === 'localhost' || !SERVICE_HOST.test(host)) return undefined;
  return host;
}
