/** Stats: reports in (POST /v1/stats), the summary, its live stream, the history and the recent changes out. */
import { DEFAULT_STATS_WINDOW_SECONDS, MAX_STATS_WINDOW_SECONDS, STATS_WINDOWS_SECONDS, statsReportSchema, statsWindowFor, STATS_PATH } from '../../config/stats.js';
import { requireIdentity } from '../auth/authorize.js';
import { ErrorCode } from '../../core/errors.js';
import { badRequest, HttpError } from '../http/http-error.js';
import { sendJsonText } from '../http/respond.js';
import type { Route } from '../http/router.js';
import { validate } from '../http/validation.js';
import type { ApiDeps } from './deps.js';
import { API_PREFIX } from '../../config/wire.js';
import { nameSchema } from '../../config/names.js';
import { CHANGE_LOG_SIZE } from '../stats/change-log.js';

/** `?window=<seconds>`: 1 to 60, default 10, served as the smallest of the windows kept that covers it. */
function windowMs(query: URLSearchParams): number {
  const all = query.getAll('window');
  if (all.length === 0) return DEFAULT_STATS_WINDOW_SECONDS * 1000;
  const n = Number(all[0]);
  if (all.length > 1 || !Number.isInteger(n) || n < 1 || n > MAX_STATS_WINDOW_SECONDS) {
    throw badRequest(
      `query parameter "window" must be a whole number of seconds from 1 to ${MAX_STATS_WINDOW_SECONDS}; ` +
        `summaries are kept for windows of ${STATS_WINDOWS_SECONDS.join(', ')} s, and another is rounded up to one of them`,
    );
  }
  return statsWindowFor(n) * 1000;
}

/** `?service=<namespace>/<name>`: only the changes that concern it. */
function serviceRef(query: URLSearchParams): string | undefined {
  const all = query.getAll('service');
  if (all.length === 0) return undefined;
  const [ns, name, ...rest] = all[0]!.split('/');
  if (all.length > 1 || rest.length > 0 || !ns || !name || !nameSchema.safeParse(ns).success || !nameSchema.safeParse(name).success) {
    throw badRequest('query parameter "service" must be <namespace>/<name>, e.g. default/api');
  }
  return `${ns}/${name}`;
}

/** `?limit=<n>`: 1 to CHANGE_LOG_SIZE, default 50. */
function limit(query: URLSearchParams): number {
  const all = query.getAll('limit');
  if (all.length === 0) return 50;
  const n = Number(all[0]);
  if (all.length > 1 || !Number.isInteger(n) || n < 1 || n > CHANGE_LOG_SIZE) throw badRequest(`query parameter "limit" must be a whole number from 1 to ${CHANGE_LOG_SIZE}`);
  return n;
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
      // The summary the streams on this window share (serialised once), or one built now and shared in turn.
      handle: async ({ res, query }) => {
        sendJsonText(res, 200, await stats.summaryJson(windowMs(query)));
        return undefined;
      },
    },
    {
      method: 'GET',
      path: `${STATS_PATH}/history`,
      auth: 'any',
      // The dashboard's small charts: a point per 15 s step over the last 15 minutes, per service and edge.
      handle: ({ res }) => {
        sendJsonText(res, 200, stats.historyJson());
        return undefined;
      },
    },
    {
      method: 'GET',
      path: `${API_PREFIX}/changes`,
      query: ['service', 'limit'],
      auth: 'any',
      // The dashboard's drill-down: configuration written and instances come and gone, newest first.
      handle: ({ query }) => ({ status: 200, body: { changes: stats.changes.list(serviceRef(query), limit(query)) } }),
    },
    {
      method: 'GET',
      path: `${STATS_PATH}/stream`,
      query: ['window'],
      // The dashboard's browser sends the token from its page (see dashboard/static/app.js).
      auth: 'any',
      handle: ({ req, res, query, principal }) => {
        stats.open(req, res, windowMs(query), principal);
        return undefined;
      },
    },
  ];
}
