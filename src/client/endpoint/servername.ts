/**
 * The TLS server name of an endpoint's connections (issue 17): an endpoint of another cluster (an
 * imported instance, which carries `cluster`) may be that cluster's mesh gateway, which routes by the
 * SNI `<service>.<namespace>.<cluster>.hyphae`; a local endpoint is dialled by address and sends none,
 * as before. Chosen once per endpoint pool, so a call pays nothing for it.
 */
import type { buildConnector } from 'undici';
import { meshSni } from '../../config/mesh-sni.js';
import type { EndpointInfo, ServiceKey } from '../../discovery/resolver.js';

/**
 * `connector`, told to send `servername` as SNI on each connection (mtls-connector.ts reads it). Kept
 * here rather than beside the connector: this module loads with every mesh, the tls modules only with mTLS.
 */
export function withServername(connector: buildConnector.connector, servername: string): buildConnector.connector {
  return (opts, callback) => connector({ ...opts, servername }, callback);
}

/** `connect`, or `connect` sending the mesh SNI of `service` in the endpoint's cluster. */
export function endpointConnector(connect: buildConnector.connector, service: ServiceKey, info: EndpointInfo): buildConnector.connector {
  const cluster = info.cluster;
  return cluster === undefined ? connect : withServername(connect, meshSni({ service: service.name, namespace: service.namespace, cluster }));
}
