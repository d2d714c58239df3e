/** `hyphae describe gateway <name>`: one Gateway's listeners, edge settings, and the routes each listener serves. */
import { effectiveHostnames } from '../../config/hostnames.js';
import { attaches } from '../../config/hostname-match.js';
import type { GatewayResource, RouteResource } from '../../config/resources.js';
import { formatMs } from '../../config/duration.js';
import { describeApiError, type ApiClient } from '../api-client.js';
import { printData, table, type OutputFormat } from '../output.js';

/** `format`: json and yaml print the data; wide is the table (a gateway has no more columns to show). */
export async function describeGateway(client: ApiClient, namespace: string, name: string, format: OutputFormat): Promise<number> {
  const res = await client.call<{ resource: GatewayResource }>('GET', `/v1/resources/Gateway/${encodeURIComponent(namespace)}/${encodeURIComponent(name)}`);
  if (res.status === 404) {
    process.stderr.write(`hyphae describe: there is no Gateway ${namespace}/${name}\n`);
    return 1;
  }
  if (res.status !== 200) throw new Error(describeApiError(res.status, res.body));
  const gateway = (res.body as { resource: GatewayResource }).resource;
  const routesRes = await client.call<{ items: RouteResource[] }>('GET', '/v1/resources?kind=Route');
  if (routesRes.status !== 200) throw new Error(describeApiError(routesRes.status, routesRes.body));
  const all = (routesRes.body as { items: RouteResource[] }).items;
  const ref = { namespace, name };
  const listeners = gateway.spec.listeners.map((l) => ({
    ...l,
    routes: all
      .filter((r) => attaches(r, ref, l))
      .map((r) => ({ route: `${r.metadata.namespace}/${r.metadata.name}`, hostnames: effectiveHostnames(l.hostname, r.spec.hostnames) }))
      .filter((r) => r.hostnames !== undefined)
      .map((r) => ({ route: r.route, hostnames: r.hostnames!.any ? ['*'] : r.hostnames!.names })),
  }));
  if (await printData(format, { gateway, listeners: listeners.map((l) => ({ name: l.name, routes: l.routes })) })) return 0;
  const edge = gateway.spec.edge;
  const t = edge.timeouts;
  const out = [
    `Gateway      ${namespace}/${name}`,
    `Edge         trusted hops ${edge.trustedHops}, headers <= ${edge.maxRequestHeaderBytes} B, body <= ${edge.maxRequestBodyBytes} B, timeouts: idle ${formatMs(t.idle)}, headers ${formatMs(t.requestHeaders)}, request ${formatMs(t.request)}`,
    '',
    'Listeners:',
    indent(
      table(
        ['NAME', 'PROTOCOL', 'PORT', 'HOSTNAME', 'CERTIFICATE', 'ROUTES FROM', 'ROUTES'],
        listeners.map((l) => [l.name, l.protocol, String(l.port), l.hostname ?? '*', l.tls?.certificateFile ?? '-', l.allowedRoutes.namespaces.from, String(l.routes.length)]),
      ),
    ),
    '',
    'Routes:',
    ...listeners.flatMap((l) => (l.routes.length === 0 ? [`  ${l.name}: (none)`] : l.routes.map((r) => `  ${l.name}: ${r.route} (${r.hostnames.join(', ')})`))),
  ];
  process.stdout.write(`${out.join('\n')}\n`);
  return 0;
}

function indent(text: string): string {
  return text
    .split('\n')
    .map((l) => (l ? `  ${l}` : l))
    .join('\n');
}
