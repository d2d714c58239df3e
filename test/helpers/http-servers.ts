import http from 'node:http';
import type { AddressInfo } from 'node:net';

export interface TestServer {
  server: http.Server;
  port: number;
  name: string;
  hits: number;
  close(): Promise<void>;
}

/** A plain loopback server that answers with its own name, counting hits. */
export async function startNamedServer(name: string, handler?: http.RequestListener): Promise<TestServer> {
  const t: TestServer = {
    name,
    hits: 0,
    port: 0,
    server: http.createServer((req, res) => {
      t.hits++;
      if (handler) return handler(req, res);
      res.setHeader('content-type', 'application/json');
      res.end(JSON.stringify({ name, method: req.method, url: req.url, host: req.headers.host }));
    }),
    close: () =>
      new Promise<void>((resolve) => {
        t.server.closeAllConnections();
        t.server.close(() => resolve());
      }),
  };
  await new Promise<void>((resolve) => t.server.listen(0, '127.0.0.1', resolve));
  t.port = (t.server.address() as AddressInfo).port;
  return t;
}

/** A server wrapped by `mesh` (not registered), listening on a loopback port of its own: the port. */
export async function listenWrapped(mesh: { wrapServer(server: http.Server, options: { register: false }): http.Server }, handler: http.RequestListener): Promise<number> {
  const server = mesh.wrapServer(http.createServer(handler), { register: false });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return (server.address() as AddressInfo).port;
}
