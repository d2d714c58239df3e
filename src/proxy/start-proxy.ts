/**
 * `hyphae proxy` as a library function: brings one instance of a workload
 * that is not Node into the mesh, beside it on the same host (Consul's
 * built-in proxy, a Linkerd proxy — a sidecar built from the library's own
 * stacks, not beside them):
 *
 * - inbound: a wrapped server (mTLS, authorization, deadline intake, load
 *   shedding, telemetry, registration, drain — exactly wrapServer's) whose
 *   handler forwards to the application (inbound.ts);
 * - outbound: a loopback listener the application uses as its HTTP proxy,
 *   sending through the mesh client stack (outbound-listener.ts);
 * - the application's health (app-health.ts): while it does not answer, the
 *   inbound server is drained and closed — deregistered, and callers that
 *   still try get a refused connect, which every mesh client retries
 *   elsewhere whatever the method; once it answers, the same port listens and
 *   registers again.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { defaultLogger, type Logger } from '../core/logger.js';
import { createMesh, type Mesh } from '../mesh/mesh.js';
import { AppHealthCheck } from './app-health.js';
import { appForwarder } from './inbound.js';
import { createOutboundListener } from './outbound-listener.js';
import { resolveProxyOptions, type HostPort, type ProxyOptions } from './options.js';

export interface RunningProxy {
  readonly mesh: Mesh;
  /** Where the inbound listener listens; undefined while the application does not answer (it is closed then). */
  readonly inboundAddress: HostPort | undefined;
  /** Where the application sends its outbound requests (its HTTP_PROXY); undefined with `outbound: false`. */
  readonly outboundAddress: HostPort | undefined;
  /** The health check's verdict on the application. */
  readonly appHealthy: boolean | undefined;
  /** Resolves once the inbound listener's state matches the latest verdict (listening, or closed); registration follows on its own. */
  settled(): Promise<void>;
  /** Stop checking, close the outbound listener, drain the inbound (deregister, drain delay, close), close the mesh. */
  close(): Promise<void>;
}

function addressOf(server: http.Server): HostPort | undefined {
  const a = server.address() as AddressInfo | null;
  return a ? { host: a.address, port: a.port } : undefined;
}

function listen(server: http.Server, at: HostPort): Promise<void> {
  return new Promise((resolve, reject) => {
    const onError = (err: Error) => reject(err);
    server.once('error', onError);
    server.listen(at.port, at.host, () => {
      server.off('error', onError);
      resolve();
    });
  });
}

function closeServer(server: http.Server): Promise<void> {
  if (!server.listening) return Promise.resolve();
  return new Promise((resolve) => server.close(() => resolve()));
}

/** Stop accepting, let idle keep-alive connections go, and cut what is still open at the grace deadline. */
async function closeOutbound(server: http.Server, graceMs: number): Promise<void> {
  const closed = closeServer(server);
  server.closeIdleConnections();
  const timer = setTimeout(() => server.closeAllConnections(), graceMs);
  timer.unref();
  await closed;
  clearTimeout(timer);
}

export async function startProxy(input: ProxyOptions): Promise<RunningProxy> {
  const options = resolveProxyOptions(input);
  const logger: Logger = options.logger ?? defaultLogger;
  const service = options.mesh.service;
  // The proxy's hops are HTTP/1.1 on the raw transport unless told otherwise (mesh option http1Transport).
  const mesh = await createMesh({ http1Transport: 'raw', ...options.mesh, logger, unknownServices: 'error' });
  let selfId: string | undefined;
  const forwarder = appForwarder(options.upstream, () => (selfId ??= mesh.identity()?.spiffeId), mesh.options.http1Transport);
  const inbound = mesh.wrapServer(http.createServer(forwarder.handler), options.inbound);
  // The port the inbound listener got first: it listens there again after the application came back.
  let inboundAt = options.listen;

  let outbound: http.Server | undefined;
  try {
    if (options.outbound) {
      outbound = createOutboundListener(mesh, options.mesh.namespace ?? 'default', options.outboundLimits, logger);
      await listen(outbound, options.outbound);
    }
  } catch (err) {
    await mesh.close();
    await forwarder.close();
    throw err;
  }

  let closing: Promise<void> | undefined;
  // Listen and drain one after the other, in the order the verdicts came.
  let transitions: Promise<void> = Promise.resolve();
  const follow = (healthy: boolean, detail: string) => {
    transitions = transitions.then(async () => {
      try {
        if (healthy && !inbound.listening) {
          await listen(inbound, inboundAt);
          inboundAt = { host: options.listen.host, port: addressOf(inbound)!.port };
          logger.info('hyphae proxy: the application answers; inbound listening', { service, port: inboundAt.port, detail });
          // Not awaited: a registration waits for as long as the control plane is unreachable, and a verdict
          // that comes meanwhile (the application gone again) must not wait behind it.
          mesh.registered(inbound).then(
            (instance) => logger.info('hyphae proxy: registered', { service, instance: instance?.id }),
            (err: unknown) => logger.warn('hyphae proxy: not registered', { service, error: String(err) }),
          );
        } else if (!healthy && inbound.listening) {
          logger.warn('hyphae proxy: the application does not answer; deregistering and closing the inbound listener', { service, detail });
          await closeServer(inbound);
        }
      } catch (err) {
        logger.error('hyphae proxy: could not follow the application health', { service, healthy, error: String(err) });
        // A port taken meanwhile (listen after close): the verdict has not changed, so nothing else would try again.
        if (healthy && closing === undefined) setTimeout(() => closing === undefined && health.healthy === true && follow(true, 'listening again'), options.health.intervalMs).unref();
      }
    });
  };
  const health = new AppHealthCheck(options.upstream, options.health, forwarder.pool, follow);
  await health.start();
  if (health.healthy === false) logger.warn('hyphae proxy: waiting for the application before registering', { service, upstream: `${options.upstream.host}:${options.upstream.port}` });
  await transitions;
  // Ready means callers can find it, as `await mesh.registered(server)` does for a Node service; a refused
  // registration (a bad token) fails the start.
  if (inbound.listening) {
    try {
      await mesh.registered(inbound);
    } catch (err) {
      await health.stop();
      await closeServer(inbound);
      if (outbound) await closeOutbound(outbound, 0);
      await mesh.close();
      await forwarder.close();
      throw err;
    }
  }

  return {
    mesh,
    get inboundAddress() {
      return inbound.listening ? addressOf(inbound) : undefined;
    },
    get outboundAddress() {
      return outbound ? addressOf(outbound) : undefined;
    },
    get appHealthy() {
      return health.healthy;
    },
    settled: () => transitions,
    close() {
      return (closing ??= (async () => {
        await health.stop();
        await transitions;
        // The inbound drains first (deregister, drain delay, in-flight requests): the application may still call
        // other services while it finishes them, so the outbound listener goes last.
        await closeServer(inbound);
        if (outbound) await closeOutbound(outbound, options.inbound.gracePeriodMs ?? mesh.options.server.gracePeriodMs);
        await mesh.close();
        await forwarder.close();
      })());
    },
  };
}
