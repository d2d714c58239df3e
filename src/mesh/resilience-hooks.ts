/**
 * The one place where a mesh says who hears the resilience layers' decisions
 * (src/resilience/hooks.ts): retries and retries given up, an exhausted retry
 * budget, ejections and returns, requests shed by a wrapped server, calls
 * refused by a concurrency limit. Every client destination and every wrapped
 * server of the mesh gets this one object.
 *
 * Today: the application's own hooks (`createMesh({ hooks })`). Telemetry adds
 * one line per hook below, next to the application's call, e.g.
 *   onRetry: (e) => { user?.onRetry?.(e); t.recordRetry(e.destination, e.route, e.condition); }
 */
import type { ResilienceHooks } from '../resilience/hooks.js';

export function meshResilienceHooks(user: ResilienceHooks | undefined): ResilienceHooks {
  return {
    onRetry: (e) => {
      user?.onRetry?.(e);
      // telemetry: t.recordRetry(e.destination, e.route, e.condition) when e.decision === 'retry'
    },
    onBudgetExhausted: (e) => {
      user?.onBudgetExhausted?.(e);
      // telemetry: t.recordBudgetExhausted(e.destination, e.route)
    },
    onEjection: (e) => {
      user?.onEjection?.(e);
      // telemetry: t.recordEjection(e.destination, e.reason)
    },
    onReturn: (e) => {
      user?.onReturn?.(e);
    },
    onShed: (e) => {
      user?.onShed?.(e);
      // telemetry: t.recordShed(e.reason)
    },
    onLimited: (e) => {
      user?.onLimited?.(e);
    },
  };
}
