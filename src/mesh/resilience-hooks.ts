/**
 * The one place where a mesh says who hears the resilience layers' decisions
 * (src/resilience/hooks.ts): retries and retries given up, an exhausted retry
 * budget, ejections and returns, requests shed by a wrapped server, calls
 * refused by a concurrency limit. Every client destination and every wrapped
 * server of the mesh gets this one object: the application's own hooks
 * (`createMesh({ hooks })`) first, then the mesh's telemetry counters.
 */
import type { ResilienceHooks } from '../resilience/hooks.js';
import type { MeshTelemetry } from '../telemetry/mesh-telemetry.js';
import { telemetryHooks } from './telemetry.js';

export function meshResilienceHooks(user: ResilienceHooks | undefined, telemetry: MeshTelemetry | undefined): ResilienceHooks {
  const t = telemetry ? telemetryHooks(telemetry) : undefined;
  return {
    onRetry: (e) => {
      user?.onRetry?.(e);
      t?.onRetry(e);
    },
    onBudgetExhausted: (e) => {
      user?.onBudgetExhausted?.(e);
      t?.onBudgetExhausted(e);
    },
    onEjection: (e) => {
      user?.onEjection?.(e);
      t?.onEjection(e);
    },
    onReturn: (e) => {
      user?.onReturn?.(e);
    },
    onShed: (e) => {
      user?.onShed?.(e);
      t?.onShed(e);
    },
    onLimited: (e) => {
      user?.onLimited?.(e);
    },
  };
}
