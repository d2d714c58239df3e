/** Every endpoint (/v1, the dashboard, /metrics), in one table. */
import type { Route } from '../http/router.js';
import { dashboardRoutes } from '../dashboard/dashboard-routes.js';
import { caRoutes } from './ca-routes.js';
import { certificateRoutes } from './certificate-routes.js';
import type { ApiDeps } from './deps.js';
import { metricsRoutes } from './metrics-routes.js';
import { peeringRoutes } from './peering-routes.js';
import { registryRoutes } from './registry-routes.js';
import { resourceRoutes } from './resource-routes.js';
import { statsRoutes } from './stats-routes.js';
import { statusRoutes } from './status-routes.js';
import { tapRoutes } from '../tap/tap-routes.js';
import { tokenRoutes } from './token-routes.js';
import { watchRoutes } from './watch-routes.js';

export function apiRoutes(deps: ApiDeps): Route[] {
  return [
    ...statusRoutes(deps),
    ...registryRoutes(deps),
    ...watchRoutes(deps),
    ...resourceRoutes(deps),
    ...statsRoutes(deps),
    ...dashboardRoutes(),
    ...certificateRoutes(deps),
    ...tokenRoutes(deps),
    ...caRoutes(deps),
    ...metricsRoutes(deps),
    ...tapRoutes(deps, deps.taps),
    ...peeringRoutes(deps),
  ];
}
