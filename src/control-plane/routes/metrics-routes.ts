/** `GET /metrics`: the control plane's own series (metrics/), for Prometheus, with an admin or viewer token. */
import { EXPOSITION_CONTENT_TYPE } from '../metrics/exposition.js';
import { forbidden } from '../http/http-error.js';
import type { Route } from '../http/router.js';
import type { ApiDeps } from './deps.js';

export function metricsRoutes({ metrics }: ApiDeps): Route[] {
  return [
    {
      method: 'GET',
      // Prometheus's default metrics_path: a scrape config needs no path.
      path: '/metrics',
      auth: 'any',
      handle: async ({ res, principal }) => {
        // A join token is a workload's identity: it has no business reading the whole control plane's figures.
        if (principal?.kind === 'join') throw forbidden(`join token ${principal.tokenId} may not read /metrics; use a viewer token (hyphae token create --viewer) or the admin token`);
        const text = await metrics.render();
        if (res.headersSent || res.destroyed) return undefined;
        res.writeHead(200, { 'content-type': EXPOSITION_CONTENT_TYPE, 'content-length': Buffer.byteLength(text), 'cache-control': 'no-store' });
        res.end(text);
        return undefined;
      },
    },
  ];
}
