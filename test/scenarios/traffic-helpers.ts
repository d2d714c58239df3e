/** Shared by the traffic scenarios: resources, applying them, and counting who answered. */
import assert from 'node:assert/strict';
import type { Mesh } from '../../src/index.js';
import { call } from '../helpers/control-plane.js';

export const API_SUBSETS = [
  { name: 'v1', labels: { version: 'v1' } },
  { name: 'v2', labels: { version: 'v2' } },
];

export function serviceDoc(name: string, spec: Record<string, unknown>) {
  return { apiVersion: 'hyphae.dev/v1', kind: 'Service', metadata: { name }, spec };
}

export function routeDoc(name: string, rules: unknown[], parent = 'api') {
  return { apiVersion: 'hyphae.dev/v1', kind: 'Route', metadata: { name }, spec: { parentRefs: [{ name: parent }], rules } };
}

/** Apply resources; fails the test unless the control plane accepts them. Resolves when it has answered. */
export async function apply(url: string, ...items: unknown[]): Promise<void> {
  const res = await call(url, 'PUT', '/v1/resources', { items });
  assert.equal(res.status, 200, `apply answered ${res.status}: ${res.text}`);
}

export interface ApiAnswer {
  status: number;
  version?: string;
  instance?: string;
  path?: string;
  error?: string;
  /** performance.now() when the request was sent and when it was answered. */
  sentAt: number;
  doneAt: number;
}

/** One request to the api service; failures are recorded, not thrown. */
export async function ask(mesh: Mesh, path: string, headers: Record<string, string> = {}): Promise<ApiAnswer> {
  const sentAt = performance.now();
  try {
    const res = await mesh.request(`http://api${path}`, { headers });
    const text = await res.body.text();
    const body = res.statusCode === 200 ? (JSON.parse(text) as { version: string; instance: string; path: string }) : undefined;
    return { status: res.statusCode, version: body?.version, instance: body?.instance, path: body?.path, sentAt, doneAt: performance.now() };
  } catch (err) {
    return { status: 0, error: `${(err as { code?: string }).code ?? ''} ${(err as Error).message}`, sentAt, doneAt: performance.now() };
  }
}

export function countBy<T>(items: T[], key: (t: T) => string | undefined): Record<string, number> {
  const out: Record<string, number> = {};
  for (const t of items) {
    const k = key(t) ?? '(none)';
    out[k] = (out[k] ?? 0) + 1;
  }
  return out;
}

export function percent(part: number, whole: number): string {
  return `${((100 * part) / whole).toFixed(1)} %`;
}
