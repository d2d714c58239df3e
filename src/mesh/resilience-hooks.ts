/**
 * The one place where a mesh says who hears the resilience layers' decisions
 * (src/resilience/hooks.ts): retries and retries given up, an exhausted retry
 * budget, ejections and returns, requests shed by a wrapped server, calls
 * refused by a concurrency limit. Every client destination and every wrapped
 * server of the mesh gets this one object: the application's own hooks
 * (`createMesh({ hooks })`) first, then the mesh's telemetry counters.
 *
 * Hooks are told, never obeyed (tellOnce in src/resilience/hooks.ts): each
 * listener's throw is caught here and logged once per hook, and the next
 * listener (telemetry) still runs.
 */
import type { Logger } from '../core/logger.js';
import { tellOnce, type ResilienceHooks } from '../resilience/hooks.js';
import type { MeshTelemetry } from '../telemetry/mesh-telemetry.js';
import { telemetryHooks } from './telemetry.js';

export function meshResilienceHooks(user: ResilienceHooks | undefined, telemetry: MeshTelemetry | undefined, logger: Logger): ResilienceHooks {
  const t = telemetry ? telemetryHooks(telemetry) : undefined;
  const warned = new Set<string>();
  const warn = (name: string, err: unknown) =>
    logger.warn(`hyphae: the ${name} hook threw; its error is ignored (logged once)`, { error: err instanceof Error ? err.message : String(err) });
  const guard = <E>(name: string, fn: ((e: E) => void) | undefined, self: object | undefined): ((e: E) => void) | undefined =>
    fn && ((e) => tellOnce(warned, name, () => fn.call(self, e), warn));
  const u = {
    onRetry: guard('onRetry', user?.onRetry, user),
    onBudgetExhausted: guard('onBudgetExhausted', user?.onBudgetExhausted, user),
    onEjection: guard('onEjection', user?.onEjection, user),
    onReturn: guard('onReturn', user?.onReturn, user),
    onShed: guard('onShed', user?.onShed, user),
    onLimited: guard('onLimited', user?.onLimited, user),
  };
  const m = t && {
    onRetry: guard('telemetry onRetry', t.onRetry, t),
    onBudgetExhausted: guard('telemetry onBudgetExhausted', t.onBudgetExhausted, t),
    onEjection: guard('telemetry onEjection', t.onEjection, t),
    onShed: guard('telemetry onShed', t.onShed, t),
  };
  return {
    onRetry: (e) => {
      u.onRetry?.(e);
      m?.onRetry?.(e);
    },
    onBudgetExhausted: (e) => {
      u.onBudgetExhausted?.(e);
      m?.onBudgetExhausted?.(e);
    },
    onEjection: (e) => {
      u.onEjection?.(e);
      m?.onEjection?.(e);
    },
    onReturn: (e) => {
      u.onReturn?.(e);
    },
    onShed: (e) => {
      u.onShed?.(e);
      m?.onShed?.(e);
    },
    onLimited: (e) => {
      u.onLimited?.(e);
    },
  };
}
