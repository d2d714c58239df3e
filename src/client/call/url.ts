/**
 * URL handling on the hot path, without `new URL()`: mesh calls name a service
 * as the host of an http URL (`http://api/items`), so we only need to split
 * origin from path and recognise a service host.
 */

/** Split `http://host[:port]/path?query#frag` into origin and path (fragment dropped). */
export function splitUrl(url: string | URL): { origin: string; path: string } {
  if (typeof url !== 'string') {
    if (!(url instanceof URL)) throw new TypeError(`the URL must be a string or a URL object, got ${url === null ? 'null' : typeof url}`);
    return { origin: url.origin, path: url.pathname + url.search };
  }
  const scheme = url.indexOf('://');
  if (scheme < 0) throw new TypeError(`invalid URL (no scheme): ${url}`);
  let end = url.length;
  let pathStart = end;
  for (let i = scheme + 3; i < url.length; i++) {
    const c = url.charCodeAt(i);
    if (c === 47 /* / */ || c === 63 /* ? */ || c === 35 /* # */) {
      pathStart = i;
      break;
    }
  }
  const hash = url.indexOf('#', pathStart);
  if (hash >= 0) end = hash;
  const origin = url.slice(0, pathStart);
  let path = url.slice(pathStart, end);
  if (path === '') path = '/';
  else if (path.charCodeAt(0) === 63) path = `/${path}`;
  return { origin, path };
}

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
