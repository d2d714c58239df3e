/** `hyphae gateway --mode mesh`: the SNI mesh gateway of a cluster (src/mesh-gateway, issue 17). */
import { apiFlags } from '../api-client.js';
import { parseCommandArgs, UsageError } from '../command.js';
import { durationFlag, intFlag, stringFlag } from '../flags.js';
import { optionsFromEnv } from '../../mesh/env.js';
import { DEFAULT_MESH_GATEWAY_SERVICE } from '../../mesh-gateway/options.js';
import { RELAY_KINDS, type RelayKind } from '../../mesh-gateway/native-relay.js';
import { startMeshGateway } from '../../mesh-gateway/start-mesh-gateway.js';
import { hostPortFlag, showHostPort as show, stderrLogger, untilSignal, workloadConnectionUsage, workloadEnv } from '../workload-env.js';

export const meshGatewayUsage = `Usage: hyphae gateway --mode mesh [options]

A mesh gateway: takes TLS connections from other clusters and passes each,
without decrypting it, to a local instance of the service its SNI names
(<service>.<namespace>.<cluster>.hyphae). The TLS session stays the caller's
with the instance: the instance sees the caller's own identity. Names of
another cluster, unknown services and anything that is not a TLS ClientHello
are refused. It registers its listener as an instance of --service, where a
peer cluster finds its address. SIGTERM: deregister, stop accepting, cut what
is still open after --grace-period, exit 0.

Options:
  --mode mesh               this mode (without it: the ingress gateway, hyphae gateway --help)
  --cluster <name>          the cluster served (default: the control plane's --cluster; given, it must be that one)
  --listen <host:port>      where to listen (default 0.0.0.0:8443; port 0: any free port)
  --advertise <address>     the address registered, when --listen is a wildcard (default: the first external IPv4)
  --no-register             do not register the listener
  --service <name>          the gateway's service name, its identity (default ${DEFAULT_MESH_GATEWAY_SERVICE})
  --namespace <name>        its namespace (HYPHAE_NAMESPACE, default "default")
  --max-connections <n>     open connections at most (default 10000)
  --hello-timeout <dur>     a whole ClientHello within this (default 10s)
  --idle-timeout <dur>      a piped connection silent both ways this long is cut, by a
                            sweep that may come up to a quarter later (default 300s)
  --connect-timeout <dur>   connecting to an instance (default 5s; then the next one is tried)
  --grace-period <dur>      on SIGTERM, connections still open after this are cut (default 30s)
  --relay <kind>            who moves a piped connection's bytes: auto (default: the native
                            relay's thread where build/native/tcp-relay.node loads, on Linux;
                            else Node's streams), native (an error where it does not load), node
  -h, --help                show this help

${workloadConnectionUsage("gateway's", 'service')}`;

function relayFlag(value: string | undefined): RelayKind | undefined {
  if (value === undefined || RELAY_KINDS.includes(value as RelayKind)) return value as RelayKind | undefined;
  throw new UsageError(`--relay must be one of ${RELAY_KINDS.join(', ')}, got "${value}"`);
}

export async function runMeshGateway(args: string[]): Promise<number> {
  const { values } = parseCommandArgs({
    args,
    strict: true,
    allowPositionals: false,
    options: {
      mode: { type: 'string' },
      cluster: { type: 'string' },
      listen: { type: 'string' },
      advertise: { type: 'string' },
      'no-register': { type: 'boolean' },
      service: { type: 'string' },
      namespace: { type: 'string' },
      'max-connections': { type: 'string' },
      'hello-timeout': { type: 'string' },
      'idle-timeout': { type: 'string' },
      'connect-timeout': { type: 'string' },
      'grace-period': { type: 'string' },
      relay: { type: 'string' },
      ...apiFlags,
      help: { type: 'boolean', short: 'h' },
    },
  });
  if (values.help) {
    process.stdout.write(meshGatewayUsage);
    return 0;
  }
  const cluster = stringFlag('cluster', values.cluster);
  const listen = hostPortFlag('listen', values.listen);
  const mesh = optionsFromEnv(workloadEnv({ ...values, service: values.service ?? DEFAULT_MESH_GATEWAY_SERVICE }));
  const gateway = await startMeshGateway({
    mesh,
    cluster,
    host: listen?.host,
    port: listen?.port,
    advertiseAddress: stringFlag('advertise', values.advertise),
    register: !values['no-register'],
    maxConnections: intFlag('max-connections', values['max-connections'], 1, 1_000_000),
    helloTimeoutMs: durationFlag('hello-timeout', values['hello-timeout'], 1, 600_000),
    idleTimeoutMs: durationFlag('idle-timeout', values['idle-timeout'], 1, 86_400_000),
    connectTimeoutMs: durationFlag('connect-timeout', values['connect-timeout'], 1, 600_000),
    gracePeriodMs: durationFlag('grace-period', values['grace-period'], 0, 3_600_000),
    relay: relayFlag(values.relay),
    logger: stderrLogger,
  });
  process.stdout.write(
    `hyphae gateway: ready mode=mesh cluster=${gateway.cluster} listen=${show(gateway.address)} registered=${gateway.registration?.id ?? '-'} identity=${gateway.mesh.identity()?.spiffeId ?? '-'} relay=${gateway.relay.kind}\n`,
  );
  const signal = await untilSignal();
  stderrLogger.info('hyphae gateway: stopping on signal', { signal, stats: gateway.stats() });
  await gateway.close();
  stderrLogger.info('hyphae gateway: stopped');
  return 0;
}
