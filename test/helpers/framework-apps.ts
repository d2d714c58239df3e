/**
 * Small applications on the real Node frameworks whose routers read a path
 * each in their own way — Express 4 and 5, Fastify 4 and 5 (npm aliases
 * `express4`, `fastify4` beside the current majors) — each with an `/admin`
 * page, an `/admin/...` tree and a public tree, and each server handed to
 * `wrap` (wrapServer) before it listens. Every handler that runs is recorded,
 * with the URL its framework gives it.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { createRequire } from 'node:module';
import fastify5 from 'fastify';
import fastify4 from 'fastify4';

/** Which handler ran: the `/admin` page, a page under `/admin/`, or the public tree. */
export type Route = 'admin' | 'admin-tree' | 'public';

export interface Hit {
  app: string;
  route: Route;
  /** The URL the framework handed its handler (Express: originalUrl, since a mount strips its path from req.url). */
  url: string;
}

export interface FrameworkApp {
  name: string;
  port: number;
  close(): Promise<void>;
}

// Express ships no types; only what these apps use is declared.
type ExpressHandler = (req: http.IncomingMessage & { originalUrl: string }, res: http.ServerResponse) => void;
interface ExpressApp {
  (req: http.IncomingMessage, res: http.ServerResponse): void;
  get(path: string, handler: ExpressHandler): void;
  use(path: string, handler: ExpressHandler): void;
}
/** What these apps use of a Fastify instance: the same calls on 4 and 5, whose own types do not unite. */
interface FastifyApp {
  get(path: string, handler: (req: { url: string }) => Promise<string>): unknown;
  listen(options: { port: number; host: string }): Promise<string>;
  readonly server: http.Server;
  close(): Promise<unknown>;
}
const require = createRequire(import.meta.url);
const EXPRESS: Record<string, () => ExpressApp> = {
  'express 4': require('express4') as () => ExpressApp,
  'express 5': require('express') as () => ExpressApp,
};

/**
 * The router options that send more spellings to one route: case-insensitive, a trailing slash ignored,
 * `//` merged, and (Fastify 5; Fastify 4's default) the path cut at `;`.
 */
const LENIENT = { caseSensitive: false, ignoreTrailingSlash: true, ignoreDuplicateSlashes: true, useSemicolonDelimiter: true };

/** Express's own defaults already route without case and ignore a trailing slash. */
export const APP_NAMES = ['express 4', 'express 5', 'fastify 4', 'fastify 4 lenient', 'fastify 5', 'fastify 5 lenient'] as const;

export async function startFrameworkApps(wrap: (server: http.Server) => void, hits: Hit[], names: readonly string[] = APP_NAMES): Promise<FrameworkApp[]> {
  const apps: FrameworkApp[] = [];
  try {
    for (const name of names) apps.push(name.startsWith('express') ? await startExpress(name, wrap, hits) : await startFastify(name, wrap, hits));
  } catch (err) {
    await Promise.all(apps.map((a) => a.close()));
    throw err;
  }
  return apps;
}

async function startExpress(name: string, wrap: (server: http.Server) => void, hits: Hit[]): Promise<FrameworkApp> {
  const app = EXPRESS[name]!();
  const handler =
    (route: Route): ExpressHandler =>
    (req, res) => {
      hits.push({ app: name, route, url: req.originalUrl });
      res.end(route);
    };
  app.get('/admin', handler('admin'));
  app.use('/admin', handler('admin-tree'));
  app.use('/public', handler('public'));
  const server = http.createServer(app);
  wrap(server);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    name,
    port: (server.address() as AddressInfo).port,
    close: () => closeServer(server),
  };
}

async function startFastify(name: string, wrap: (server: http.Server) => void, hits: Hit[]): Promise<FrameworkApp> {
  const lenient = name.endsWith('lenient');
  const serverFactory = (handler: http.RequestListener) => {
    const server = http.createServer(handler);
    wrap(server);
    return server;
  };
  // Fastify 5 takes router options under routerOptions (top-level ones are deprecated); Fastify 4 at the top.
  const app: FastifyApp = name.startsWith('fastify 4') ? fastify4({ serverFactory, ...(lenient ? LENIENT : {}) }) : fastify5({ serverFactory, ...(lenient ? { routerOptions: LENIENT } : {}) });
  const handler = (route: Route) => async (req: { url: string }) => {
    hits.push({ app: name, route, url: req.url });
    return route;
  };
  app.get('/admin', handler('admin'));
  app.get('/admin/*', handler('admin-tree'));
  app.get('/public', handler('public'));
  app.get('/public/*', handler('public'));
  await app.listen({ port: 0, host: '127.0.0.1' });
  return {
    name,
    port: (app.server.address() as AddressInfo).port,
    close: async () => {
      app.server.closeAllConnections();
      await app.close();
    },
  };
}

async function closeServer(server: http.Server): Promise<void> {
  server.closeAllConnections();
  await new Promise<void>((resolve) => server.close(() => resolve()));
}
