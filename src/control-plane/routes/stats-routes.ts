/** Stats: reports in (POST /v1/stats), the summary and its live stream out. */
import { statsReportSchema, STATS_PATH } from '../../config/stats.js';
import { requireIdentity } from '../auth/authorize.js';
import { ErrorCode } from '../../core/errors.js';
import { badRequest, HttpError } from '../http/http-error.js';
import type { Route } from '../http/router.js';
import { validate } from '../http/validation.js';
import { DEFAULT_WINDOW_SECONDS } from '../stats/stats-hub.js';
import { STATS_RETENTION_MS } from '../stats/stats-store.js';
import type { ApiDeps } from './deps.js';

/** `?window=<seconds>`: 1 to the retention (60), default 10. */
function windowMs(query: URLSearchParams): number {
  const all = query.getAll('window');
  if (all.length === 0) return DEFAULT_WINDOW_SECONDS * 1000;
  const n = Number(all[0]);
  const max = STATS_RETENTION_MS / 1000;
  if (all.length > 1 || !Number.isInteger(n) || n < 1 || n > max) throw badRequest(`query parameter "window" must be a whole number of seconds from 1 to ${max}`);
  return n * 1000;
}

export function statsRoutes({ stats }: ApiDeps): Route[] {
  return [
    {
      method: 'POST',
      path: STATS_PATH,
      body: 'required',
      // A workload reports with its join token, and only as its own service.
      auth: 'any',
      handle: ({ body, principal }) => {
        const report = validate(statsReportSchema, body, 'stats report');
        if (principal?.kind === 'join') requireIdentity(principal, report.namespace, report.service ?? principal.service, 'report stats for');
        // Over a budget the report is dropped (counted and logged by the store's owner); the reporter hears so.
        if (!stats.stats.add(report)) throw new HttpError(429, ErrorCode.OVERLOADED, 'stats report dropped: the control plane holds as many stats as it keeps');
        return { status: 204 };
      },
    },
    {
      method: 'GET',
      path: `${STATS_PATH}/summary`,
      query: ['window'],
      auth: 'any',
      handle: ({ query }) => ({ status: 200, body: stats.summary(windowMs(query)) }),
    },
    {
      method: 'GET',
      path: `${STATS_PATH}/stream`,
      query: ['window'],
      // The dashboard's browser sends the token from its page (see dashboard/static/app.js).
      auth: 'any',
      handle: ({ req, res, query }) => {
        stats.open(req, res, windowMs(query));
        return undefined;
      },
    },
  ];
}
