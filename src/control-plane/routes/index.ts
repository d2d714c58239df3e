/** Every /v1 endpoint, in one table. */
import type { Route } from '../http/router.js';
import type { ApiDeps } from './deps.js';
import { registryRoutes } from './registry-routes.js';
import { resourceRoutes } from './resource-routes.js';
import { statusRoutes } from './status-routes.js';
import { statsRoutes } from './stats-routes.js';
import { dashboardRoutes } from '../dashboard/dashboard-routes.js';
import { watchRoutes } from './watch-routes.js';

export function apiRoutes(deps: ApiDeps): Route[] {
  return [...statusRoutes(deps), ...registryRoutes(deps), ...watchRoutes(deps), ...resourceRoutes(deps), ...statsRoutes(deps), ...dashboardRoutes()];
}
