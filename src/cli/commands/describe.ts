/** `hyphae describe service <name>`: everything the control plane knows about one service; `describe gateway <name>`: one Gateway. */
import { ApiClient, apiFlags, apiFlagsUsage, connectionFrom, describeApiError } from '../api-client.js';
import { UsageError, type Command, parseCommandArgs } from '../command.js';
import { intFlag, stringFlag } from '../flags.js';
import { outputFlags, outputFormat, outputUsage, printData } from '../output.js';
import { describeGateway } from './describe-gateway.js';
import { clusterOf, commonFlagsUsage, edgeTable, fetchSummary, ms, pct, routeRows, routeTable, rps, statsTable } from '../stats-format.js';

const usage = `Usage: hyphae describe service <name> [options]
       hyphae describe gateway <name> [-n namespace] [-o json|yaml]

One service in detail: its instances (zone, version, health, ejection,
certificate, live figures), who calls it and what it calls, its traffic per
route rule (every caller together: each rule of the Routes whose parent it
is, [default] for calls no Route steered), its Service configuration, the
routes and authorization policies that apply, and warnings about it. One
gateway: its listeners, edge settings, and the routes each listener serves
(with the hostnames they serve there).

Options:
  -n, --namespace <ns>   the service's or gateway's namespace (default "default")
${commonFlagsUsage}
${outputUsage('everything shown, as data (a service: {service, instances, inbound, outbound, routeTraffic, ...})', 'instance addresses and labels, error counts', true)}
  -h, --help             show this help

${apiFlagsUsage}
`;

export const describeCommand: Command = {
  name: 'describe',
  usage,
  async run(args) {
    const { values, positionals } = parseCommandArgs({
      args,
      strict: true,
      allowPositionals: true,
      options: { ...apiFlags, namespace: { type: 'string', short: 'n' }, window: { type: 'string' }, ...outputFlags(true), help: { type: 'boolean', short: 'h' } },
    });
    if (values.help) {
      process.stdout.write(usage);
      return 0;
    }
    const [kind, name, ...extra] = positionals;
    const gateway = kind === 'gateway' || kind === 'gw';
    if (kind !== 'service' && kind !== 'svc' && !gateway)
      throw new UsageError(kind === undefined ? 'say what to describe: hyphae describe service <name>, or hyphae describe gateway <name>' : `cannot describe "${kind}"; use "service" or "gateway"`);
    if (!name) throw new UsageError(`name the ${gateway ? 'gateway' : 'service'}: hyphae describe ${gateway ? 'gateway' : 'service'} <name>`);
    if (extra.length > 0) throw new UsageError(`unexpected argument "${extra[0]}"`);
    const namespace = stringFlag('namespace', values.namespace) ?? 'default';
    const format = outputFormat(values);
    const wide = format === 'wide';
    if (gateway) {
      const client = new ApiClient(await connectionFrom(values));
      try {
        return await describeGateway(client, namespace, name, format);
      } finally {
        await client.close();
      }
    }
    const ref = `${namespace}/${name}`;
    const windowSeconds = intFlag('window', values.window, 1, 60) ?? 10;
    const client = new ApiClient(await connectionFrom(values));
    try {
      const s = await fetchSummary(client, windowSeconds);
      const service = s.services.find((v) => v.namespace === namespace && v.name === name);
      if (!service) {
        process.stderr.write(`hyphae describe: service ${ref} is not known to the control plane (no instance ever registered, no Service resource)\n`);
        return 1;
      }
      const res = await client.call<{ resource: { spec: unknown } }>('GET', `/v1/resources/Service/${encodeURIComponent(namespace)}/${encodeURIComponent(name)}`);
      if (res.status !== 200 && res.status !== 404) throw new Error(describeApiError(res.status, res.body));
      const config = res.status === 200 ? (res.body as { resource: { spec: unknown } }).resource.spec : null;
      const view = {
        service,
        cluster: s.cluster ?? null,
        windowSeconds: s.windowSeconds,
        instances: s.instances.filter((i) => i.namespace === namespace && i.service === name),
        inbound: s.edges.filter((e) => e.destination === ref),
        outbound: s.edges.filter((e) => e.source === ref),
        config,
        routeTraffic: routeRows(s, (d) => d === ref),
        routes: s.routes.filter((r) => r.parents.includes(ref)),
        policies: s.policies.filter((p) => p.namespace === namespace && (p.selector === null || p.selector === name)),
        warnings: s.warnings.filter((w) => w.service === name || w.message.includes(ref)),
      };
      if (await printData(format, view)) return 0;
      const t = service.traffic;
      const out = [
        `Service      ${ref}`,
        `Cluster      ${s.cluster ?? '(unknown: the control plane predates clusters)'}`,
        `Instances    ${service.instances}`,
        `Traffic in   ${rps(t.rps)} rps, ${pct(t.successRate)} success, p50 ${ms(t.p50Ms)}, p99 ${ms(t.p99Ms)} (last ${s.windowSeconds}s)`,
        '',
        'Instances:',
        view.instances.length === 0
          ? '  (none)'
          : indent(
              statsTable(
                ['INSTANCE', 'CLUSTER', 'ZONE', 'VERSION', 'HEALTH', 'EJECTED', 'CERT EXPIRES', 'RPS IN', 'SUCCESS', 'P99', ...(wide ? ['ADDRESS', 'LABELS'] : [])],
                view.instances.map((i) => [
                  i.id,
                  clusterOf(i, s.cluster),
                  i.zone ?? '-',
                  i.version ?? '-',
                  i.health,
                  i.observedBy ? `${i.ejectedBy}/${i.observedBy}` : '-',
                  i.certificate ? `${Math.round(i.certificate.expiresInSeconds / 60)}m` : '-',
                  rps(i.traffic.rps),
                  pct(i.traffic.successRate),
                  ms(i.traffic.p99Ms),
                  ...(wide
                    ? [
                        `${i.address}:${i.port}`,
                        Object.entries(i.labels)
                          .map(([k, v]) => `${k}=${v}`)
                          .join(',') || '-',
                      ]
                    : []),
                ]),
              ),
            ),
        '',
        'Callers (inbound edges):',
        indent(edgeTable(view.inbound, wide)),
        '',
        'Calls (outbound edges):',
        indent(edgeTable(view.outbound, wide)),
        '',
        'Routes (traffic in, by rule):',
        indent(routeTable(view.routeTraffic, wide, false)),
        '',
        `Config:     ${config === null ? '(no Service resource: defaults apply)' : JSON.stringify(config)}`,
        `Routes:     ${view.routes.length === 0 ? '(none)' : view.routes.map((r) => `${r.namespace}/${r.name} [${r.rules.map((x) => `${x.name} -> ${x.backends.join(', ')}`).join('; ')}]`).join('\n            ')}`,
        `Policies:   ${view.policies.length === 0 ? '(none)' : view.policies.map((p) => `${p.namespace}/${p.name} ${p.action} (${p.rules} rules${p.selector ? '' : ', whole namespace'})`).join('\n            ')}`,
        '',
        view.warnings.length === 0 ? 'No warnings.' : `Warnings:\n${view.warnings.map((w) => `  ! [${w.kind}] ${w.message}`).join('\n')}`,
      ];
      process.stdout.write(`${out.join('\n')}\n`);
      return 0;
    } finally {
      await client.close();
    }
  },
};

function indent(text: string): string {
  return text
    .split('\n')
    .map((l) => `  ${l}`)
    .join('\n');
}
