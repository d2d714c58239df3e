/**
 * Which mesh service an outbound request is for. The application sends either
 * what an HTTP proxy gets (`GET http://api/items HTTP/1.1`, absolute form:
 * what HTTP_PROXY clients send) or a plain request whose Host names the
 * service (`GET /items`, `Host: api`). The host is a service name, or
 * `service.namespace`; a port is ignored (the mesh knows where the service
 * listens). Anything else is not a mesh service and is refused: the proxy
 * is no exit to the internet (the application has its own network for that).
 */
import { ErrorCode, type ErrorCodeValue } from '../core/errors.js';

const LABEL = /^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/;

export type OutboundTarget = { service: string; path: string } | { status: 400 | 502; code: ErrorCodeValue; message: string };

function authorityHost(authority: string): string | undefined {
  if (authority.includes('@') || authority.startsWith('[')) return undefined;
  const colon = authority.indexOf(':');
  if (colon < 0) return authority;
  return /^\d{0,5}$/.test(authority.slice(colon + 1)) ? authority.slice(0, colon) : undefined;
}

/** `namespace`: the proxy's own; the mesh client reaches services of its namespace by name. */
export function outboundTarget(url: string | undefined, hostHeader: string | undefined, namespace: string): OutboundTarget {
  let authority: string | undefined;
  let path: string;
  const target = url ?? '';
  if (target.startsWith('/')) {
    authority = hostHeader;
    path = target;
  } else {
    const scheme = /^([a-zA-Z][a-zA-Z0-9+.-]*):\/\//.exec(target);
    if (!scheme) return { status: 400, code: ErrorCode.BAD_REQUEST_TARGET, message: 'the request target must be a path (with a Host header) or an absolute http:// URL' };
    if (scheme[1]!.toLowerCase() !== 'http') {
      return { status: 502, code: ErrorCode.SERVICE_NOT_FOUND, message: `only http:// URLs name mesh services (the mesh adds mTLS itself), got ${scheme[1]}://` };
    }
    const rest = target.slice(scheme[0].length);
    const end = rest.search(/[/?#]/);
    authority = end < 0 ? rest : rest.slice(0, end);
    path = end < 0 ? '/' : rest.slice(end);
    if (path.startsWith('?')) path = `/${path}`;
    const hash = path.indexOf('#');
    if (hash >= 0) path = path.slice(0, hash);
  }
  if (!authority) return { status: 400, code: ErrorCode.BAD_REQUEST_TARGET, message: 'no host: send an absolute http:// URL or a Host header naming the service' };
  const host = authorityHost(authority.trim().toLowerCase());
  const dot = host === undefined ? -1 : host.indexOf('.');
  const service = host === undefined ? undefined : dot < 0 ? host : host.slice(0, dot);
  const ns = host === undefined || dot < 0 ? namespace : host.slice(dot + 1);
  if (service === undefined || service === 'localhost' || !LABEL.test(service) || !LABEL.test(ns)) {
    return { status: 502, code: ErrorCode.SERVICE_NOT_FOUND, message: `"${authority}" is not a mesh service name (a service, or service.namespace)` };
  }
  if (ns !== namespace) {
    return { status: 502, code: ErrorCode.SERVICE_NOT_FOUND, message: `"${authority}" is in namespace ${ns}; this proxy's mesh reaches the services of namespace ${namespace}` };
  }
  return { service, path };
}
