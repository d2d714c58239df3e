/**
 * The outbound listener: the application's HTTP proxy into the mesh
 * (`HTTP_PROXY=http://127.0.0.1:15001`), bound to loopback only. Each request
 * names a service (outbound-target.ts) and goes through the mesh's client
 * stack (edge/forward-to-mesh.ts).
 *
 * Its guard against peers that never finish is the one every listener has
 * (core/listener-guard.ts): header and request timeouts checked on time (a
 * peer that connects and says nothing is cut at the header timeout), a cap on
 * connections, oversized headers answered 431, and every error answer flushed
 * then destroyed (the sockets are half-open). There is no TLS here: the
 * application speaks plain HTTP on loopback, the mesh adds mTLS.
 *
 * CONNECT is refused (405): a tunnel would carry the application's own TLS
 * through the mesh unseen, with none of its routing, policy or identity.
 */
import http from 'node:http';
import type { Socket } from 'node:net';
import { answerClientErrors, rawJsonAnswer } from '../core/client-error.js';
import { ErrorCode } from '../core/errors.js';
import type { Logger } from '../core/logger.js';
import { applyHttpTimeouts, capConnections, closeWith, sampled } from '../core/listener-guard.js';
import { forwardToMesh, type MeshRequester } from '../edge/forward-to-mesh.js';
import { sendEdgeError } from '../edge/error-response.js';
import { DEFAULT_KEEP_ALIVE_TIMEOUT_MS } from '../server/listener-limits.js';
import { outboundTarget } from './outbound-target.js';
import type { ResolvedProxyOptions } from './options.js';

export function createOutboundListener(mesh: MeshRequester, namespace: string, limits: ResolvedProxyOptions['outboundLimits'], logger: Logger): http.Server {
  const server = http.createServer({ maxHeaderSize: limits.maxHeaderSize }, (req, res) => {
    const target = outboundTarget(req.url, req.headers.host, namespace);
    if ('status' in target) return sendEdgeError(res, target.status, target.code, target.message);
    void forwardToMesh(mesh, req, res, target);
  });
  applyHttpTimeouts(server, limits.headersTimeoutMs, limits.requestTimeoutMs);
  // A peer that connects and says nothing is cut at the header timeout; an idle keep-alive one at the keep-alive
  // timeout, the wrapped servers' (Node's 5 s made an application's client re-connect after every pause of 3 s).
  server.keepAliveTimeout = DEFAULT_KEEP_ALIVE_TIMEOUT_MS;
  if (limits.maxConnections > 0) {
    capConnections(server, limits.maxConnections, (level, message, fields) => logger[level](`hyphae proxy: outbound ${message}`, fields), 'proxy outbound maxConnections');
  }

  let refused = 0;
  answerClientErrors(server, {
    limits: () => limits,
    refused: (r) => {
      if (sampled(++refused)) logger.warn('hyphae proxy: outbound request refused', { status: r.status, message: r.message, refused });
    },
  });
  server.on('connect', (_req: http.IncomingMessage, socket: Socket) => {
    closeWith(
      socket,
      rawJsonAnswer(
        405,
        ErrorCode.METHOD_NOT_ALLOWED,
        'CONNECT is not supported: the mesh does not tunnel TLS; send plain http:// requests through this proxy and the mesh adds mTLS',
        'Allow: GET, HEAD, POST, PUT, PATCH, DELETE, OPTIONS\r\n',
      ),
    );
  });
  return server;
}
