/**
 * What `hyphae check` reads from the control plane, each fact fetched once:
 * its health (with its version and its clock's Date header), the CA, the stats
 * summary (instances, certificates, reporting), and the stored resources. A
 * fact that could not be read says why, and only the checks that need it fail.
 */
import type { Resource } from '../../config/resources.js';
import type { MeshSummary } from '../../control-plane/stats/summary.js';
import { type ApiClient, describeApiError } from '../api-client.js';

export type Fetched<T> = { ok: true; value: T } | { ok: false; error: string; hint?: string };

export interface Health {
  status: string;
  version?: string;
  revision: number;
  services: number;
  instances: number;
  store?: { ok: boolean; store?: string; error?: string };
}

export interface HealthFact {
  status: number;
  body: Health;
  /** The Date header, and this machine's clock just before the request and just after the answer. */
  date: string | undefined;
  sentAt: number;
  receivedAt: number;
}

export interface CaAuthority {
  id: string;
  notAfter: string;
  active: boolean;
}

export interface CaFact {
  trustDomain: string;
  authorities: CaAuthority[];
}

export interface Facts {
  url: string;
  clientVersion: string;
  tokenGiven: boolean;
  now: number;
  health: Fetched<HealthFact>;
  /** `insecure`: the control plane runs without a CA (404 on /v1/ca). */
  ca: Fetched<CaFact | 'insecure'>;
  summary: Fetched<MeshSummary>;
  resources: Fetched<Resource[]>;
}

/** Every fact; once the control plane is unreachable the rest is not tried (each would wait for the same timeout). */
export async function gatherFacts(client: ApiClient, clientVersion: string, now: () => number = Date.now): Promise<Facts> {
  const base = { url: client.conn.url, clientVersion, tokenGiven: client.conn.token !== undefined };
  const health = await fetchHealth(client, now);
  if (!health.ok) {
    const skipped = { ok: false as const, error: 'not read: the control plane is unreachable' };
    return { ...base, now: now(), health, ca: skipped, summary: skipped, resources: skipped };
  }
  const [ca, summary, resources] = await Promise.all([
    read<CaFact | 'insecure'>(client, '/v1/ca', (status, body) => (status === 404 ? 'insecure' : status === 200 ? (body as CaFact) : undefined)),
    read<MeshSummary>(client, '/v1/stats/summary', (status, body) => (status === 200 ? (body as MeshSummary) : undefined)),
    read<Resource[]>(client, '/v1/resources', (status, body) => (status === 200 ? (body as { items: Resource[] }).items : undefined)),
  ]);
  return { ...base, now: now(), health, ca, summary, resources };
}

async function fetchHealth(client: ApiClient, now: () => number): Promise<Fetched<HealthFact>> {
  const sentAt = now();
  try {
    const res = await client.call<Health>('GET', '/v1/health');
    const receivedAt = now();
    if (res.status !== 200 && res.status !== 503) return { ok: false, error: `GET /v1/health answered ${describeApiError(res.status, res.body)}` };
    return { ok: true, value: { status: res.status, body: res.body as Health, date: res.date, sentAt, receivedAt } };
  } catch (err) {
    // ApiClient puts its hint on a second line: the check prints it as the line's hint.
    const [message, ...rest] = (err as Error).message.split('\n  hint: ');
    return { ok: false, error: message!, ...(rest.length > 0 && { hint: rest.join(' ') }) };
  }
}

async function read<T>(client: ApiClient, path: string, accept: (status: number, body: unknown) => T | undefined): Promise<Fetched<T>> {
  try {
    const res = await client.call('GET', path);
    const value = accept(res.status, res.body);
    if (value !== undefined) return { ok: true, value };
    const hint =
      res.status === 401 || res.status === 403
        ? 'give a token that may read (--token-file or HYPHAE_ADMIN_TOKEN_FILE: the admin token, or a viewer token from "hyphae token create --viewer")'
        : undefined;
    return { ok: false, error: `GET ${path}: ${describeApiError(res.status, res.body)}`, ...(hint && { hint }) };
  } catch (err) {
    return { ok: false, error: `GET ${path}: ${(err as Error).message.split('\n')[0]}` };
  }
}
