/** `hyphae get routes|services|instances|gateways [name]`: what the control plane holds. */
import type { Instance } from '../../config/instance.js';
import type { GatewayResource, RouteResource, ServiceResource } from '../../config/resources.js';
import { ApiClient, apiFlags, apiFlagsUsage, connectionFrom, describeApiError } from '../api-client.js';
import { UsageError, type Command, parseCommandArgs } from '../command.js';
import { json, outputFormat, table, yamlDocuments, type OutputFormat } from '../output.js';

const usage = `Usage: hyphae get routes|services|instances|gateways [name] [-n namespace] [-o json|yaml]

List what the control plane holds: Route resources, services (registered or
configured, with their Service resource), instances (of one service when
a name is given), or Gateway resources (with their listeners and the number
of Routes attached). Without -n, every namespace; a name alone means the
"default" namespace.

Options:
  -n, --namespace <ns>  only this namespace
  -o, --output <fmt>    json or yaml instead of a table (YAML output can be applied again)
  -h, --help            show this help

${apiFlagsUsage}

Exit status: 0, 1 when a named object does not exist or the call failed, 2 bad usage.
`;

type What = 'routes' | 'services' | 'instances' | 'gateways';

function what(value: string | undefined): What {
  if (value === undefined) throw new UsageError('say what to get: routes, services, instances or gateways');
  const v = value.toLowerCase();
  if (v === 'route' || v === 'routes') return 'routes';
  if (v === 'service' || v === 'services' || v === 'svc') return 'services';
  if (v === 'instance' || v === 'instances') return 'instances';
  if (v === 'gateway' || v === 'gateways' || v === 'gw') return 'gateways';
  throw new UsageError(`cannot get "${value}": use routes, services, instances or gateways`);
}

export const getCommand: Command = {
  name: 'get',
  summary: 'list routes, services, instances or gateways',
  usage,
  async run(args) {
    const { values, positionals } = parseCommandArgs({
      args,
      strict: true,
      allowPositionals: true,
      options: { namespace: { type: 'string', short: 'n' }, output: { type: 'string', short: 'o' }, help: { type: 'boolean', short: 'h' }, ...apiFlags },
    });
    if (values.help) {
      process.stdout.write(usage);
      return 0;
    }
    if (positionals.length > 2) throw new UsageError(`unexpected argument "${positionals[2]}"`);
    const kind = what(positionals[0]);
    const name = positionals[1];
    const format = outputFormat(values.output);
    // A name without -n means the default namespace, as everywhere in hyphae.
    const namespace = values.namespace ?? (name !== undefined ? 'default' : undefined);
    const client = new ApiClient(connectionFrom(values));
    try {
      const get = async <T>(path: string): Promise<T> => {
        const res = await client.call<T>('GET', path);
        if (res.status !== 200) throw new Error(describeApiError(res.status, res.body));
        return res.body as T;
      };
      const keep = (ns: string, n: string) => (namespace === undefined || ns === namespace) && (name === undefined || n === name);
      let printed: number;
      switch (kind) {
        case 'routes': {
          const { items } = await get<{ items: RouteResource[] }>('/v1/resources?kind=Route');
          printed = printRoutes(
            items.filter((r) => keep(r.metadata.namespace, r.metadata.name)),
            format,
            name !== undefined,
          );
          break;
        }
        case 'services': {
          const [{ services }, { items }] = await Promise.all([
            get<{ services: { namespace: string; name: string; instances: number }[] }>('/v1/services'),
            get<{ items: ServiceResource[] }>('/v1/resources?kind=Service'),
          ]);
          const byKey = new Map(items.map((r) => [`${r.metadata.namespace}/${r.metadata.name}`, r]));
          const rows = services
            .filter((s) => keep(s.namespace, s.name))
            .map((s) => ({ namespace: s.namespace, name: s.name, instances: s.instances, resource: byKey.get(`${s.namespace}/${s.name}`) ?? null }));
          printed = printServices(rows, format, name !== undefined);
          break;
        }
        case 'gateways': {
          const [{ items }, { items: routes }] = await Promise.all([get<{ items: GatewayResource[] }>('/v1/resources?kind=Gateway'), get<{ items: RouteResource[] }>('/v1/resources?kind=Route')]);
          printed = printGateways(
            items.filter((g) => keep(g.metadata.namespace, g.metadata.name)),
            routes,
            format,
            name !== undefined,
          );
          break;
        }
        case 'instances': {
          const query =
            name !== undefined ? `?service=${encodeURIComponent(name)}&namespace=${encodeURIComponent(namespace!)}` : namespace !== undefined ? `?namespace=${encodeURIComponent(namespace)}` : '';
          const { instances } = await get<{ instances: Instance[] }>(`/v1/instances${query}`);
          printed = printInstances(instances, format);
          break;
        }
      }
      if (printed === 0 && name !== undefined) {
        const label = { routes: 'route', services: 'service', instances: 'instances of service', gateways: 'gateway' }[kind];
        process.stderr.write(`no ${label} ${namespace}/${name}\n`);
        return 1;
      }
      if (printed === 0 && format === 'table') process.stderr.write(`no ${kind}${namespace !== undefined ? ` in namespace ${namespace}` : ''}\n`);
      return 0;
    } finally {
      await client.close();
    }
  },
};

function printRoutes(routes: RouteResource[], format: OutputFormat, single: boolean): number {
  if (format === 'json') process.stdout.write(json(single ? routes[0] : { items: routes }));
  else if (format === 'yaml') process.stdout.write(yamlDocuments(routes));
  else if (routes.length > 0) {
    const rows = routes.map((r) => {
      const ns = r.metadata.namespace;
      const ref = (s: { name: string; namespace?: string | undefined; subset?: string | undefined }) =>
        `${s.namespace && s.namespace !== ns ? `${s.namespace}/` : ''}${s.name}${s.subset ? `/${s.subset}` : ''}`;
      const backends = new Set(r.spec.rules.flatMap((rule) => rule.backendRefs.map((b) => `${ref(b)}=${b.weight}`)));
      // A Gateway parent as `Gateway/<name>[:<listener>]`, so it is not read as a service of that name.
      const parent = (p: RouteResource['spec']['parentRefs'][number]) => (p.kind === 'Gateway' ? `Gateway/${ref(p)}${p.sectionName ? `:${p.sectionName}` : ''}` : ref(p));
      return [ns, r.metadata.name, r.spec.parentRefs.map(parent).join(','), String(r.spec.rules.length), [...backends].join(' ')];
    });
    process.stdout.write(table(['NAMESPACE', 'NAME', 'PARENTS', 'RULES', 'BACKENDS'], rows));
  }
  return routes.length;
}

/** Routes whose parentRefs name the gateway, whatever listener: the count a table shows. */
function attachedTo(gateway: GatewayResource, routes: readonly RouteResource[]): number {
  const { namespace, name } = gateway.metadata;
  return routes.filter((r) => r.spec.parentRefs.some((p) => p.kind === 'Gateway' && p.name === name && (p.namespace ?? r.metadata.namespace) === namespace)).length;
}

function printGateways(gateways: GatewayResource[], routes: readonly RouteResource[], format: OutputFormat, single: boolean): number {
  if (format === 'json') process.stdout.write(json(single ? gateways[0] : { items: gateways }));
  else if (format === 'yaml') process.stdout.write(yamlDocuments(gateways));
  else if (gateways.length > 0) {
    const rows = gateways.map((g) => [
      g.metadata.namespace,
      g.metadata.name,
      g.spec.listeners.map((l) => `${l.name}=${l.protocol}:${l.port}${l.hostname ? `/${l.hostname}` : ''}`).join(' '),
      String(attachedTo(g, routes)),
    ]);
    process.stdout.write(table(['NAMESPACE', 'NAME', 'LISTENERS', 'ROUTES'], rows));
  }
  return gateways.length;
}

interface ServiceRow {
  namespace: string;
  name: string;
  instances: number;
  resource: ServiceResource | null;
}

function printServices(rows: ServiceRow[], format: OutputFormat, single: boolean): number {
  if (format === 'json') process.stdout.write(json(single ? rows[0] : { services: rows }));
  else if (format === 'yaml') process.stdout.write(yamlDocuments(single ? rows.slice(0, 1) : [{ services: rows }]));
  else if (rows.length > 0) {
    const cells = rows.map((s) => [
      s.namespace,
      s.name,
      String(s.instances),
      s.resource ? s.resource.spec.loadBalancer : '(default)',
      (s.resource?.spec.subsets ?? []).map((x) => x.name).join(',') || '-',
    ]);
    process.stdout.write(table(['NAMESPACE', 'NAME', 'INSTANCES', 'BALANCER', 'SUBSETS'], cells));
  }
  return rows.length;
}

function printInstances(instances: Instance[], format: OutputFormat): number {
  if (format === 'json') process.stdout.write(json({ instances }));
  else if (format === 'yaml') process.stdout.write(yamlDocuments([{ instances }]));
  else if (instances.length > 0) {
    const rows = instances.map((i) => [
      i.namespace,
      i.service,
      i.id,
      String(i.weight),
      Object.entries(i.labels)
        .map(([k, v]) => `${k}=${v}`)
        .join(',') || '-',
    ]);
    process.stdout.write(table(['NAMESPACE', 'SERVICE', 'INSTANCE', 'WEIGHT', 'LABELS'], rows));
  }
  return instances.length;
}
