/** `hyphae proxy`: a sidecar that brings one instance of a workload in any language into the mesh (src/proxy). */
import { apiFlags } from '../api-client.js';
import { type Command, parseCommandArgs, UsageError } from '../command.js';
import { durationFlag, intFlag, stringFlag } from '../flags.js';
import { hostPortFlag, showHostPort as show, stderrLogger, untilSignal, workloadConnectionUsage, workloadEnv } from '../workload-env.js';
import { optionsFromEnv } from '../../mesh/env.js';
import { DEFAULT_HEALTH, DEFAULT_OUTBOUND } from '../../proxy/options.js';
import { startProxy } from '../../proxy/start-proxy.js';

const usage = `Usage: hyphae proxy --service <name> --upstream <host:port> [options]

Run beside one instance of a service written in any language (a sidecar):
registers it, terminates the mesh's mTLS with the same authorization,
deadlines, load shedding and telemetry as a Node service, and forwards to
the application over loopback, with the caller's verified SPIFFE ID in
x-forwarded-client-cert (Envoy's format). The application calls other
services through the outbound listener: HTTP_PROXY=http://127.0.0.1:15001,
then http://<service>/path. SIGTERM drains (deregister, drain delay, close).

Options:
  --service <name>          the workload's service name (HYPHAE_SERVICE); its identity
  --namespace <name>        its namespace (HYPHAE_NAMESPACE, default "default")
  --upstream <host:port>    the application's own listener, e.g. 127.0.0.1:9000
  --listen <host:port>      inbound listener (default 0.0.0.0:0, any free port)
  --outbound <host:port>    outbound listener, loopback only (default ${DEFAULT_OUTBOUND.host}:${DEFAULT_OUTBOUND.port});
                            "off" for none
  --health-path <path>      check the application with GET <path> (2xx/3xx passes);
                            default: a TCP connect to its port
  --health-interval <dur>   between checks (default ${DEFAULT_HEALTH.intervalMs / 1000}s)
  --health-timeout <dur>    one check's bound (default ${DEFAULT_HEALTH.timeoutMs / 1000}s)
  --health-failures <n>     failed checks in a row before deregistering (default ${DEFAULT_HEALTH.failures})
  --health-successes <n>    passed checks in a row before registering again (default ${DEFAULT_HEALTH.successes})
  --drain-delay <dur>       keep serving this long after deregistering (HYPHAE_DRAIN_DELAY_MS, default 2s)
  --max-concurrent <n>      load shedding: beyond n requests in progress, answer 503 before the application
                            (callers retry another instance); default: no limit
  -h, --help                show this help

Both hops (its mesh calls and its forward to the application) carry HTTP/1.1 on
the mesh's raw transport; HYPHAE_HTTP1_TRANSPORT=undici puts them on undici.

${workloadConnectionUsage("workload's", 'name')}`;

export const proxyCommand: Command = {
  name: 'proxy',
  usage,
  async run(args) {
    const { values } = parseCommandArgs({
      args,
      strict: true,
      allowPositionals: false,
      options: {
        service: { type: 'string' },
        namespace: { type: 'string' },
        upstream: { type: 'string' },
        listen: { type: 'string' },
        outbound: { type: 'string' },
        'health-path': { type: 'string' },
        'health-interval': { type: 'string' },
        'health-timeout': { type: 'string' },
        'health-failures': { type: 'string' },
        'health-successes': { type: 'string' },
        'drain-delay': { type: 'string' },
        'max-concurrent': { type: 'string' },
        // The same four connection flags as every command; --token-file holds the proxy's join token here.
        ...apiFlags,
        help: { type: 'boolean', short: 'h' },
      },
    });
    if (values.help) {
      process.stdout.write(usage);
      return 0;
    }
    const env = workloadEnv(values);
    if (!env.HYPHAE_SERVICE) throw new UsageError('--service (or HYPHAE_SERVICE) is required: the name this workload registers and is identified by');
    const upstream = hostPortFlag('upstream', values.upstream);
    if (!upstream) throw new UsageError('--upstream <host:port> is required: where the application listens');
    const drainDelay = durationFlag('drain-delay', values['drain-delay'], 0, 600_000);
    if (drainDelay !== undefined) env.HYPHAE_DRAIN_DELAY_MS = String(drainDelay);
    const mesh = optionsFromEnv(env);
    const maxConcurrent = intFlag('max-concurrent', values['max-concurrent'], 1, 1_000_000);

    const proxy = await startProxy({
      mesh,
      upstream,
      listen: hostPortFlag('listen', values.listen),
      outbound: values.outbound === 'off' ? false : hostPortFlag('outbound', values.outbound),
      health: {
        path: stringFlag('health-path', values['health-path']),
        intervalMs: durationFlag('health-interval', values['health-interval'], 50, 3_600_000),
        timeoutMs: durationFlag('health-timeout', values['health-timeout'], 10, 600_000),
        failures: intFlag('health-failures', values['health-failures'], 1, 100),
        successes: intFlag('health-successes', values['health-successes'], 1, 100),
      },
      ...(maxConcurrent !== undefined ? { inbound: { maxConcurrent } } : {}),
      logger: stderrLogger,
    });
    process.stdout.write(
      `hyphae proxy: ready service=${mesh.service ?? ''} inbound=${show(proxy.inboundAddress)} outbound=${show(proxy.outboundAddress)} upstream=${show(upstream)} identity=${proxy.mesh.identity()?.spiffeId ?? '-'}\n`,
    );
    const signal = await untilSignal();
    stderrLogger.info('hyphae proxy: draining on signal', { signal });
    await proxy.close();
    stderrLogger.info('hyphae proxy: stopped');
    return 0;
  },
};
