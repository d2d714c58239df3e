/**
 * The mesh gateway's listener on a real socket, with real routing (MeshGatewayRouter over the mesh's
 * WatchCache) and a resolver the test sets; instances are TCP servers on 127.0.0.1 (the gateway never
 * decrypts, so an echo server shows exactly the bytes it forwards).
 */
import net, { type AddressInfo } from 'node:net';
import type { Logger } from '../../src/core/logger.js';
import { silentLogger } from '../../src/core/logger.js';
import { WatchCache } from '../../src/discovery/watch-cache.js';
import { DEFAULT_LISTENER_OPTIONS, MeshGatewayListener, type ListenerOptions } from '../../src/mesh-gateway/listener.js';
import { MeshGatewayRouter } from '../../src/mesh-gateway/router.js';
import { GatewayCounters } from '../../src/mesh-gateway/stats.js';
import { watchPeer, type SlowRequest } from '../helpers/hostile-peers.js';
import { EndpointResolver } from './endpoint-resolver.js';

export const CLUSTER = 'dc2';
/** The relays a listener may pipe with: the suites that pipe bytes run on each (native: the addon must load). */
export const RELAYS = ['native', 'node'] as const;

export interface Harness {
  port: number;
  resolver: EndpointResolver;
  counters: GatewayCounters;
  router: MeshGatewayRouter;
  listener: MeshGatewayListener;
  close(): Promise<void>;
}

export async function startHarness(options: Partial<ListenerOptions> = {}, logger: Logger = silentLogger, maxServices = 16): Promise<Harness> {
  const resolver = new EndpointResolver();
  const cache = new WatchCache(resolver);
  const counters = new GatewayCounters(logger);
  const o = { ...DEFAULT_LISTENER_OPTIONS, ...options };
  const router = new MeshGatewayRouter({ cluster: CLUSTER, watch: cache, maxServices, discoveryTimeoutMs: 5_000, downMs: o.downMs });
  const listener = new MeshGatewayListener(router, counters, o);
  const port = (await listener.listen(0, '127.0.0.1')).port;
  return {
    port,
    resolver,
    counters,
    router,
    listener,
    async close() {
      await listener.close();
      router.close();
      await cache.close();
    },
  };
}

export interface Instance {
  port: number;
  /** Connections it accepted so far. */
  accepted: number;
  /** Open now. */
  readonly open: Set<net.Socket>;
  close(): Promise<void>;
}

/** An instance that echoes every byte (and ends when the caller's FIN comes: a half-close passed on), or, with `stall`, reads and never answers. */
export async function startInstance(stall = false): Promise<Instance> {
  const open = new Set<net.Socket>();
  const inst = { port: 0, accepted: 0, open } as Instance;
  const server = net.createServer({ allowHalfOpen: true }, (s) => {
    inst.accepted++;
    open.add(s);
    s.on('close', () => open.delete(s));
    s.on('error', () => s.destroy());
    // Stalled: reads (so it sees the gateway's FIN, and lets go then) and never answers.
    if (stall) s.resume().on('end', () => s.destroy());
    else s.pipe(s);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  inst.port = (server.address() as AddressInfo).port;
  inst.close = async () => {
    for (const s of open) s.destroy();
    await new Promise((resolve) => server.close(resolve));
  };
  return inst;
}

/** A port nothing listens on (bound, then released). */
export async function closedPort(): Promise<number> {
  const s = net.createServer();
  await new Promise<void>((resolve) => s.listen(0, '127.0.0.1', resolve));
  const port = (s.address() as AddressInfo).port;
  await new Promise((resolve) => s.close(resolve));
  return port;
}

/** Connect to the gateway (half-open on our side, as hostile peers are), send `bytes`, and watch what comes back. */
export async function send(port: number, bytes: Buffer | undefined): Promise<SlowRequest & { socket: net.Socket }> {
  const socket = net.connect({ port, host: '127.0.0.1', allowHalfOpen: true });
  await new Promise<void>((resolve, reject) => {
    socket.once('connect', resolve);
    socket.once('error', reject);
  });
  const peer = watchPeer(socket);
  if (bytes) socket.write(bytes);
  return { ...peer, socket };
}

/** The TLS alert record the gateway answers a refused ClientHello with. */
export function alert(description: number): string {
  return Buffer.from([0x15, 0x03, 0x03, 0x00, 0x02, 0x02, description]).toString('latin1');
}
