/** `hyphae get <kind>|instances [name]`: what the control plane holds. */
import type { Instance } from '../../config/instance.js';
import type { AuthorizationPolicyResource, GatewayResource, PeerAuthenticationResource, Resource, ResourceKind, RouteResource, ServiceResource } from '../../config/resources.js';
import { resourceKinds } from '../../config/resource-kinds.js';
import { defaultRuleName } from '../../config/rule-name.js';
import { ApiClient, apiFlags, apiFlagsUsage, connectionFrom, describeApiError } from '../api-client.js';
import { UsageError, type Command, parseCommandArgs } from '../command.js';
import { parseKind } from '../kinds.js';
import { json, outputFlags, outputFormat, table, yamlDocuments, type OutputFormat } from '../output.js';
import { clusterOf, fetchSummary, type MeshSummary } from '../stats-format.js';

const usage = `Usage: hyphae get services|routes|authorizationpolicies|peerauthentications|gateways|instances [name] [-n namespace | -A] [-o json|yaml|wide]

List what the control plane holds: resources of one kind (${resourceKinds.join(', ')};
plural, lower case and short names such as svc, authz, peerauth, gw work too), or
instances (of one service when a name is given). Services list every service
registered or configured, with its instance count. Without -n, every namespace
(-A says so explicitly); a name alone means the "default" namespace.

Options:
  -n, --namespace <ns>    only this namespace
  -A, --all-namespaces    every namespace (the default without -n)
  -o, --output <fmt>      json or yaml instead of a table: the stored resources themselves, so
                          the output can be applied again (hyphae get svc api -o yaml | hyphae apply -f -);
                          a list is {items: [...]} in JSON, one YAML document per resource;
                          wide: more columns (instances: address, zone, version, health and
                          certificate expiry from the stats; routes: hostnames and rule names)
  -h, --help              show this help

${apiFlagsUsage}

Exit status: 0, 1 when a named object does not exist or the call failed, 2 bad usage.
`;

type What = ResourceKind | 'instances';

function what(value: string | undefined): What {
  if (value === undefined) throw new UsageError(`say what to get: ${resourceKinds.join(', ')} or instances`);
  const v = value.toLowerCase();
  if (v === 'instance' || v === 'instances') return 'instances';
  return parseKind(value);
}

export const getCommand: Command = {
  name: 'get',
  usage,
  async run(args) {
    const { values, positionals } = parseCommandArgs({
      args,
      strict: true,
      allowPositionals: true,
      options: {
        namespace: { type: 'string', short: 'n' },
        'all-namespaces': { type: 'boolean', short: 'A' },
        ...outputFlags(),
        help: { type: 'boolean', short: 'h' },
        ...apiFlags,
      },
    });
    if (values.help) {
      process.stdout.write(usage);
      return 0;
    }
    if (positionals.length > 2) throw new UsageError(`unexpected argument "${positionals[2]}"`);
    const kind = what(positionals[0]);
    const name = positionals[1];
    const format = outputFormat(values);
    if (values['all-namespaces'] && values.namespace !== undefined) throw new UsageError('-A and -n exclude each other');
    // A name without -n means the default namespace, as everywhere in hyphae.
    const namespace = values.namespace ?? (name !== undefined && !values['all-namespaces'] ? 'default' : undefined);
    const client = new ApiClient(await connectionFrom(values));
    try {
      const get = async <T>(path: string): Promise<T> => {
        const res = await client.call<T>('GET', path);
        if (res.status !== 200) throw new Error(describeApiError(res.status, res.body));
        return res.body as T;
      };
      const keep = (ns: string, n: string) => (namespace === undefined || ns === namespace) && (name === undefined || n === name);
      const stored = async <K extends ResourceKind>(k: K) =>
        (await get<{ items: Extract<Resource, { kind: K }>[] }>(`/v1/resources?kind=${k}`)).items.filter((r) => keep(r.metadata.namespace, r.metadata.name));
      const single = name !== undefined;
      let printed: number;
      if (kind === 'instances') {
        const query =
          name !== undefined ? `?service=${encodeURIComponent(name)}&namespace=${encodeURIComponent(namespace!)}` : namespace !== undefined ? `?namespace=${encodeURIComponent(namespace)}` : '';
        const res = await client.call<{ instances: Instance[] }>('GET', `/v1/instances${query}`);
        if (res.status !== 200) throw new Error(describeApiError(res.status, res.body));
        const { instances } = res.body as { instances: Instance[] };
        // The wide columns the registry does not hold (health, certificate) come from the stats summary.
        printed = await printInstances(instances, res.cluster, format, format === 'wide' && instances.length > 0 ? await fetchSummary(client, 10) : undefined);
      } else if (kind === 'Service') {
        const [{ services }, items] = await Promise.all([get<{ services: { namespace: string; name: string; instances: number }[] }>('/v1/services'), stored('Service')]);
        const byKey = new Map(items.map((r) => [`${r.metadata.namespace}/${r.metadata.name}`, r]));
        const rows = services
          .filter((s) => keep(s.namespace, s.name))
          .map((s) => ({ namespace: s.namespace, name: s.name, instances: s.instances, resource: byKey.get(`${s.namespace}/${s.name}`) ?? null }));
        printed = await printServices(rows, format, single);
      } else if (format === 'json' || format === 'yaml') {
        printed = await printResources(await stored(kind), format, single);
      } else if (kind === 'Route') {
        printed = printRoutes(await stored('Route'), format === 'wide');
      } else if (kind === 'Gateway') {
        const [gateways, routes] = await Promise.all([stored('Gateway'), get<{ items: RouteResource[] }>('/v1/resources?kind=Route')]);
        printed = printGateways(gateways, routes.items);
      } else if (kind === 'AuthorizationPolicy') {
        printed = printPolicies(await stored('AuthorizationPolicy'));
      } else if (kind === 'ServiceExport') {
        printed = printServiceExports(await stored('ServiceExport'));
      } else {
        printed = printPeerAuthentications(await stored('PeerAuthentication'));
      }
      if (printed === 0 && name !== undefined) {
        process.stderr.write(`no ${kind === 'instances' ? 'instances of service' : kind} ${namespace}/${name}\n`);
        return 1;
      }
      if (printed === 0 && (format === 'table' || format === 'wide'))
        process.stderr.write(`no ${kind === 'instances' ? kind : `${kind} resources`}${namespace !== undefined ? ` in namespace ${namespace}` : ''}\n`);
      return 0;
    } finally {
      await client.close();
    }
  },
};

/** The stored resources as they are, so that the output applies again: what -o json|yaml promises. */
async function printResources(items: readonly Resource[], format: 'json' | 'yaml', single: boolean): Promise<number> {
  if (format === 'json') process.stdout.write(json(single ? items[0] : { items }));
  else process.stdout.write(await yamlDocuments(items));
  return items.length;
}

function printRoutes(routes: RouteResource[], wide: boolean): number {
  if (routes.length > 0) {
    const rows = routes.map((r) => {
      const ns = r.metadata.namespace;
      const ref = (s: { name: string; namespace?: string | undefined; subset?: string | undefined }) =>
        `${s.namespace && s.namespace !== ns ? `${s.namespace}/` : ''}${s.name}${s.subset ? `/${s.subset}` : ''}`;
      const backends = new Set(r.spec.rules.flatMap((rule) => rule.backendRefs.map((b) => `${ref(b)}=${b.weight}`)));
      // A Gateway parent as `Gateway/<name>[:<listener>]`, so it is not read as a service of that name.
      const parent = (p: RouteResource['spec']['parentRefs'][number]) => (p.kind === 'Gateway' ? `Gateway/${ref(p)}${p.sectionName ? `:${p.sectionName}` : ''}` : ref(p));
      const row = [ns, r.metadata.name, r.spec.parentRefs.map(parent).join(','), String(r.spec.rules.length), [...backends].join(' ')];
      if (!wide) return row;
      // The rules by the name metrics and the per-route stats (hyphae top --routes) give them.
      return [...row, r.spec.hostnames?.join(',') ?? '*', r.spec.rules.map((rule, i) => rule.name ?? defaultRuleName(r.metadata.name, i)).join(',')];
    });
    process.stdout.write(table(['NAMESPACE', 'NAME', 'PARENTS', 'RULES', 'BACKENDS', ...(wide ? ['HOSTNAMES', 'RULE NAMES'] : [])], rows));
  }
  return routes.length;
}

/** Routes whose parentRefs name the gateway, whatever listener: the count a table shows. */
function attachedTo(gateway: GatewayResource, routes: readonly RouteResource[]): number {
  const { namespace, name } = gateway.metadata;
  return routes.filter((r) => r.spec.parentRefs.some((p) => p.kind === 'Gateway' && p.name === name && (p.namespace ?? r.metadata.namespace) === namespace)).length;
}

function printGateways(gateways: GatewayResource[], routes: readonly RouteResource[]): number {
  if (gateways.length > 0) {
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

async function printServices(rows: ServiceRow[], format: OutputFormat, single: boolean): Promise<number> {
  if (format === 'json' || format === 'yaml') {
    // The Service resources, which apply again; a service that is only registered has none (defaults apply),
    // which YAML says in a comment and JSON leaves out. The instance counts are in `get instances`.
    const resources = rows.flatMap((r) => (r.resource ? [r.resource] : []));
    if (format === 'json') await printResources(resources, format, single);
    else {
      const bare = rows.filter((r) => !r.resource).map((r) => `# ${r.namespace}/${r.name}: registered, no Service resource (the defaults apply)\n`);
      process.stdout.write(bare.join('') + (bare.length > 0 && resources.length > 0 ? '---\n' : '') + (await yamlDocuments(resources)));
    }
    return rows.length;
  }
  if (rows.length > 0) {
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

/**
 * `cluster`: the control plane's, which its own instances run in (only imported ones carry theirs), shown
 * on each, as data too; unknown from a control plane that predates clusters. `summary`: given for -o wide,
 * whose columns it fills (an instance it does not list yet shows "-").
 */
async function printInstances(listed: Instance[], cluster: string | undefined, format: OutputFormat, summary?: MeshSummary): Promise<number> {
  const instances = cluster === undefined ? listed : listed.map((i) => (i.cluster === undefined ? { ...i, cluster } : i));
  if (format === 'json') process.stdout.write(json({ instances }));
  else if (format === 'yaml') process.stdout.write(await yamlDocuments([{ instances }]));
  else if (instances.length > 0) {
    const seen = new Map(summary?.instances.map((v) => [`${v.namespace}/${v.service}/${v.id}`, v]));
    const rows = instances.map((i) => {
      const row = [
        i.namespace,
        i.service,
        i.id,
        clusterOf(i, cluster),
        String(i.weight),
        Object.entries(i.labels)
          .map(([k, v]) => `${k}=${v}`)
          .join(',') || '-',
      ];
      if (format !== 'wide') return row;
      const v = seen.get(`${i.namespace}/${i.service}/${i.id}`);
      const expires = v?.certificate ? new Date(Date.parse(v.certificate.notAfter)).toISOString().replace(/\.\d{3}Z$/, 'Z') : '-';
      return [...row, i.address, String(i.port), v?.zone ?? i.labels.zone ?? '-', v?.version ?? i.labels.version ?? '-', v?.health ?? '-', expires];
    });
    const wide = format === 'wide' ? ['ADDRESS', 'PORT', 'ZONE', 'VERSION', 'HEALTH', 'CERT EXPIRES'] : [];
    process.stdout.write(table(['NAMESPACE', 'SERVICE', 'INSTANCE', 'CLUSTER', 'WEIGHT', 'LABELS', ...wide], rows));
  }
  return instances.length;
}

function printPolicies(policies: AuthorizationPolicyResource[]): number {
  if (policies.length > 0) {
    const rows = policies.map((p) => [p.metadata.namespace, p.metadata.name, p.spec.action, p.spec.selector ? p.spec.selector.service : '(namespace)', String(p.spec.rules.length)]);
    process.stdout.write(table(['NAMESPACE', 'NAME', 'ACTION', 'SERVICE', 'RULES'], rows));
  }
  return policies.length;
}

/** Exported services: what peer clusters may import (docs/usage.md, "Peering"). */
function printServiceExports(items: readonly Resource[]): number {
  if (items.length > 0)
    process.stdout.write(
      table(
        ['NAMESPACE', 'NAME'],
        items.map((e) => [e.metadata.namespace, e.metadata.name]),
      ),
    );
  return items.length;
}

function printPeerAuthentications(items: PeerAuthenticationResource[]): number {
  if (items.length > 0) {
    const rows = items.map((p) => [p.metadata.namespace, p.metadata.name, p.spec.selector ? p.spec.selector.service : '(namespace)', p.spec.mode]);
    process.stdout.write(table(['NAMESPACE', 'NAME', 'SERVICE', 'MODE'], rows));
  }
  return items.length;
}
