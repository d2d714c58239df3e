/**
 * Splitting a URL into origin and path on the hot path, without `new URL()`: mesh calls name a service as
 * the host of an http URL (`http://api/items`). Used by mesh.request and by the edge's forwarder, which
 * sends a forwarded request's target the same way.
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
