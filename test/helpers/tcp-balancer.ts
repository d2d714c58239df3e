/**
 * A tiny TCP load balancer for tests (as an L4 balancer in front of gateway
 * replicas): each accepted connection goes to the next target round-robin;
 * a target that refuses the connect is skipped for that connection (the
 * next one is tried), as a balancer's passive health check would. Bytes are
 * piped both ways; a side that ends ends the other once its bytes are through.
 * `admit`, if given, holds each accepted connection until it resolves: a test
 * can do something at the moment a client is ready to talk, before a byte of
 * it reaches the target (a rejection closes the connection).
 */
import net, { type AddressInfo } from 'node:net';

export interface TcpBalancer {
  port: number;
  /** Connections sent to each target (by port). */
  readonly sent: Map<number, number>;
  close(): Promise<void>;
}

export interface TcpBalancerOptions {
  admit?: () => Promise<void>;
}

export async function startTcpBalancer(targets: readonly number[], { admit }: TcpBalancerOptions = {}): Promise<TcpBalancer> {
  let next = 0;
  const sent = new Map<number, number>();
  const sockets = new Set<net.Socket>();
  const server = net.createServer((client) => {
    sockets.add(client);
    client.once('close', () => sockets.delete(client));
    client.on('error', () => client.destroy());
    client.pause();
    // Each connection walks the targets from its own turn, so concurrent failovers never retry the same dead one.
    const first = next++;
    const tryTarget = (left: number) => {
      if (left === 0) return client.destroy();
      const port = targets[(first + targets.length - left) % targets.length]!;
      const upstream = net.connect(port, '127.0.0.1');
      sockets.add(upstream);
      upstream.once('close', () => sockets.delete(upstream));
      upstream.once('connect', () => {
        sent.set(port, (sent.get(port) ?? 0) + 1);
        upstream.removeAllListeners('error');
        upstream.on('error', () => client.destroy());
        client.pipe(upstream);
        upstream.pipe(client);
        client.resume();
        // The client gone: nothing to carry. The target closing normally ends the client through pipe (its
        // answer flushed first); a target that dies resets, and its 'error' destroys the client.
        client.once('close', () => upstream.destroy());
      });
      upstream.once('error', () => tryTarget(left - 1));
    };
    if (!admit) tryTarget(targets.length);
    else
      void admit().then(
        () => {
          if (!client.destroyed) tryTarget(targets.length);
        },
        () => client.destroy(),
      );
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    port: (server.address() as AddressInfo).port,
    sent,
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
}
