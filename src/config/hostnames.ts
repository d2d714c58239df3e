/**
 * Hostnames as the Kubernetes Gateway API writes them on a Listener and a Route:
 * an RFC 1123 name, lower case, optionally led by one `*.` wildcard label that
 * stands for one or more labels (`*.example.com` matches `a.example.com` and
 * `a.b.example.com`, never `example.com`). IP addresses are not hostnames here:
 * a request by address reaches only what names no hostname.
 * No zod here (the CLI's views match hostnames too): the schema is ./hostname-schema.ts.
 */
const LABELS = /^(\*\.)?[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;
const IPV4 = /^\d+(\.\d+){3}$/;

/** Why `value` is not a Gateway API hostname, or undefined when it is one. */
export function hostnameProblem(value: string): string | undefined {
  if (value.length > 253) return `is ${value.length} characters; a hostname has at most 253`;
  if (value !== value.toLowerCase()) return 'must be lower case (hostnames match without case; write them as they are compared)';
  if (!LABELS.test(value)) {
    return value.includes('*')
      ? 'a wildcard is allowed only as the whole first label: "*.example.com"'
      : 'must be an RFC 1123 hostname: labels of a-z, 0-9 and "-", separated by ".", optionally led by "*."';
  }
  if (IPV4.test(value)) return 'an IP address is not a hostname: leave hostname out to accept requests by address';
  for (const label of value.split('.')) if (label.length > 63) return `label "${label.slice(0, 20)}..." is ${label.length} characters; at most 63`;
  return undefined;
}

export function isWildcard(hostname: string): boolean {
  return hostname.startsWith('*.');
}

/**
 * Whether `host` (a concrete name) is matched by `pattern` (exact or `*.` wildcard). The wildcard's
 * suffix keeps its dot, so `*.example.com` never matches `example.com` nor `badexample.com`.
 */
export function hostnameMatches(pattern: string, host: string): boolean {
  if (!isWildcard(pattern)) return pattern === host;
  const suffix = pattern.slice(1);
  return host.length > suffix.length && host.endsWith(suffix);
}

/**
 * The Gateway API's hostname intersection of a listener's hostname and a route's: the names
 * the route serves on that listener, the more specific of the two when one contains the other,
 * undefined when they share no name. An absent listener hostname takes any route hostname.
 */
export function intersectHostnames(listener: string | undefined, route: string): string | undefined {
  if (listener === undefined || listener === route) return route;
  if (isWildcard(listener) && hostnameMatches(listener, isWildcard(route) ? route.slice(2) : route)) {
    // route is within the listener's wildcard: `*.example.com` x `a.example.com` or x `*.a.example.com`.
    if (!isWildcard(route) || route.length > listener.length) return route;
  }
  if (isWildcard(route) && hostnameMatches(route, isWildcard(listener) ? listener.slice(2) : listener)) {
    if (!isWildcard(listener) || listener.length > route.length) return listener;
  }
  return undefined;
}

/**
 * What a route serves on a listener: the intersections of its hostnames with the listener's
 * (deduplicated), the listener's own hostname (or every name, `[]` with `any`) when the route names
 * none. `undefined` when the route names hostnames and none intersects: it does not attach there.
 */
export function effectiveHostnames(listener: string | undefined, routeHostnames: readonly string[] | undefined): { any: boolean; names: string[] } | undefined {
  if (routeHostnames === undefined || routeHostnames.length === 0) {
    return listener === undefined ? { any: true, names: [] } : { any: false, names: [listener] };
  }
  const names = new Set<string>();
  for (const h of routeHostnames) {
    const i = intersectHostnames(listener, h);
    if (i !== undefined) names.add(i);
  }
  return names.size === 0 ? undefined : { any: false, names: [...names] };
}
