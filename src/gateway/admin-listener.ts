/**
 * `/healthz` and `/readyz` on a port of their own (as Istio's gateway has
 * 15021), not under reserved paths of the client-facing listeners: a path
 * reserved there would shadow the same path of every application behind the
 * gateway, and a balancer's health check then also depends on the Host and
 * SNI that route it. healthz: the process answers. readyz: the Gateway's
 * configuration has arrived and every listener is bound, and the gateway is
 * not draining (it fails first on SIGTERM, so a balancer stops sending).
 * The listener has the guard every listener has (timeouts, a connection cap,
 * small headers) and answers nothing else.
 */
import http from 'node:http';
import { ErrorCode } from '../core/errors.js';
import type { Logger } from '../core/logger.js';
import { applyHttpTimeouts, capConnections } from '../core/listener-guard.js';
import { sendEdgeError } from '../edge/error-response.js';

export interface Readiness {
  /** undefined when ready, else why not. */
  notReady(): string | undefined;
}

const ADMIN_MAX_CONNECTIONS = 64;

export function createAdminListener(readiness: Readiness, logger: Logger): http.Server {
  const server = http.createServer({ maxHeaderSize: 8_192 }, (req, res) => {
    const path = req.url?.split('?')[0];
    if (req.method !== 'GET' && req.method !== 'HEAD') return sendEdgeError(res, 405, ErrorCode.METHOD_NOT_ALLOWED, 'GET /healthz or /readyz', { allow: 'GET, HEAD' });
    if (path === '/healthz') return void res.writeHead(200, { 'content-type': 'text/plain' }).end('ok\n');
    if (path === '/readyz') {
      const why = readiness.notReady();
      if (why === undefined) return void res.writeHead(200, { 'content-type': 'text/plain' }).end('ready\n');
      return void res.writeHead(503, { 'content-type': 'text/plain' }).end(`not ready: ${why}\n`);
    }
    sendEdgeError(res, 404, ErrorCode.NOT_FOUND, 'only /healthz and /readyz here');
  });
  applyHttpTimeouts(server, 5_000, 10_000);
  server.keepAliveTimeout = 5_000;
  capConnections(server, ADMIN_MAX_CONNECTIONS, (level, message, fields) => logger[level](`hyphae gateway: admin ${message}`, fields), 'gateway admin');
  return server;
}
