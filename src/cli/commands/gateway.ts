/** `hyphae gateway`: an ingress gateway into the mesh, configured by a Gateway resource and its Routes (src/gateway). */
import { apiFlags } from '../api-client.js';
import { type Command, parseCommandArgs, UsageError } from '../command.js';
import { durationFlag, stringFlag } from '../flags.js';
import { optionsFromEnv } from '../../mesh/env.js';
import { DEFAULT_ADMIN, DEFAULT_GATEWAY_TIMING } from '../../gateway/options.js';
import { startGateway } from '../../gateway/start-gateway.js';
import { hostPortFlag, showHostPort as show, stderrLogger, untilSignal, workloadConnectionUsage, workloadEnv } from '../workload-env.js';

const usage = `Usage: hyphae gateway --name <gateway> [options]
       hyphae gateway --mode mesh --cluster <name> [options]   (hyphae gateway --mode mesh --help)

An ingress gateway: serves the listeners of the Gateway resource <gateway>
(HTTP, HTTPS with SNI) to clients outside the mesh and sends each request,
by the Routes attached to it (parentRefs: [{kind: Gateway, name: <gateway>}]),
to mesh services over mTLS with its own identity
(spiffe://<trust domain>/ns/<namespace>/sa/<service>). Changes to the Gateway
and its Routes apply live. SIGTERM drains: /readyz fails, --drain-delay later
the listeners stop accepting, requests in flight finish, then it exits 0.

Options:
  --mode ingress|mesh       ingress (this, the default) or the SNI mesh gateway between clusters
  --name <gateway>          the Gateway resource to serve (required)
  --namespace <name>        its namespace and the gateway's (HYPHAE_NAMESPACE, default "default")
  --service <name>          the gateway's service name, its identity (default: --name)
  --admin <host:port>       /healthz and /readyz (default ${DEFAULT_ADMIN.host}:${DEFAULT_ADMIN.port}); "off" for none
  --host <address>          where the listeners bind (default 0.0.0.0); their ports are the Gateway's
  --port <gw>=<port>        bind the Gateway's port <gw> on <port> instead (0: any free port); repeatable.
                            For several replicas on one host, behind a balancer
  --drain-delay <dur>       /readyz fails this long before the listeners close (default ${DEFAULT_GATEWAY_TIMING.drainDelayMs / 1000}s)
  --grace-period <dur>      then connections still open are cut after this (default ${DEFAULT_GATEWAY_TIMING.gracePeriodMs / 1000}s)
  -h, --help                show this help

${workloadConnectionUsage("gateway's", 'service')}`;

export const gatewayCommand: Command = {
  name: 'gateway',
  usage,
  async run(args) {
    const mode = modeOf(args);
    if (mode === 'mesh') return (await import('./mesh-gateway.js')).runMeshGateway(args);
    if (mode !== undefined && mode !== 'ingress') throw new UsageError(`--mode must be "ingress" (the default) or "mesh", got "${mode}"`);
    const { values } = parseCommandArgs({
      args,
      strict: true,
      allowPositionals: false,
      options: {
        mode: { type: 'string' },
        name: { type: 'string' },
        namespace: { type: 'string' },
        service: { type: 'string' },
        admin: { type: 'string' },
        host: { type: 'string' },
        port: { type: 'string', multiple: true },
        'drain-delay': { type: 'string' },
        'grace-period': { type: 'string' },
        ...apiFlags,
        help: { type: 'boolean', short: 'h' },
      },
    });
    if (values.help) {
      process.stdout.write(usage);
      return 0;
    }
    const name = stringFlag('name', values.name);
    if (!name) throw new UsageError('--name <gateway> is required: the Gateway resource this process serves');
    const env = workloadEnv({ ...values, service: values.service ?? name });
    const mesh = optionsFromEnv(env);
    const ports: Record<number, number> = {};
    for (const p of values.port ?? []) {
      const m = /^(\d{1,5})=(\d{1,5})$/.exec(p);
      if (!m || Number(m[1]) < 1 || Number(m[1]) > 65_535 || Number(m[2]) > 65_535) throw new UsageError(`--port must be <gateway port>=<bind port>, e.g. 8080=18080, got "${p}"`);
      ports[Number(m[1])] = Number(m[2]);
    }
    const gateway = await startGateway({
      mesh,
      name,
      namespace: mesh.namespace,
      host: stringFlag('host', values.host),
      ports,
      admin: values.admin === 'off' ? false : hostPortFlag('admin', values.admin),
      drainDelayMs: durationFlag('drain-delay', values['drain-delay'], 0, 600_000),
      gracePeriodMs: durationFlag('grace-period', values['grace-period'], 0, 3_600_000),
      logger: stderrLogger,
    });
    await gateway.ready;
    const listeners = [...gateway.addresses].map(([port, a]) => `${port}=${show(a)}`).join(',');
    process.stdout.write(
      `hyphae gateway: ready gateway=${mesh.namespace ?? 'default'}/${name} listeners=${listeners} admin=${show(gateway.adminAddress)} identity=${gateway.mesh.identity()?.spiffeId ?? '-'}\n`,
    );
    const signal = await untilSignal();
    stderrLogger.info('hyphae gateway: draining on signal', { signal });
    await gateway.close();
    stderrLogger.info('hyphae gateway: stopped');
    return 0;
  },
};

/** `--mode` decides which flags the rest of the line may hold, so it is read before they are parsed. */
function modeOf(args: readonly string[]): string | undefined {
  let mode: string | undefined;
  for (let i = 0; i < args.length; i++) {
    const a = args[i]!;
    if (a === '--') break;
    if (a === '--mode') mode = args[++i];
    else if (a.startsWith('--mode=')) mode = a.slice('--mode='.length);
  }
  return mode;
}
