/**
 * The mesh's one event sink (core/events.ts EventSink): every destination's
 * layers and every wrapped server of the mesh emit into it, and this is the
 * one place that says who hears them — the application's hooks
 * (`createMesh({ hooks })`) first, then the mesh's telemetry.
 *
 * Hooks are told, never obeyed: each application hook runs guarded under its
 * own name (a throw is logged once per hook), and the sink guards every other
 * subscriber (telemetry) the same way, so the next one still runs.
 */
import { EventSink } from '../core/events.js';
import type { Logger } from '../core/logger.js';
import type { MeshCall } from '../client/call/mesh-call.js';
import type { ClientEventSink } from '../client/events.js';
import type { MeshEvents, ResilienceHooks } from '../resilience/hooks.js';
import type { MeshTelemetry } from '../telemetry/mesh-telemetry.js';
import { subscribeTelemetry } from './telemetry.js';

export function meshEvents(user: ResilienceHooks | undefined, telemetry: MeshTelemetry | undefined, logger: Logger): ClientEventSink {
  const warned = new Set<string>();
  const warnOnce = (name: string, err: unknown): void => {
    if (warned.has(name)) return;
    warned.add(name);
    logger.warn(`hyphae: the ${name} hook threw; its error is ignored (logged once)`, { error: err instanceof Error ? err.message : String(err) });
  };
  const events = new EventSink<MeshEvents, MeshCall>((name, err) => warnOnce(`telemetry ${name}`, err));
  if (user) subscribeHooks(events, user, warnOnce);
  if (telemetry) subscribeTelemetry(events, telemetry);
  return events;
}

/** The application's hooks, each on the channel of its event (onBudgetExhausted: the retry decisions that say so). */
function subscribeHooks(events: ClientEventSink, user: ResilienceHooks, warnOnce: (name: string, err: unknown) => void): void {
  // Each hook guarded under its own name (the sink knows only the channel: onRetry and onBudgetExhausted share one).
  const guard = <A>(name: string, fn: ((a: A) => void) | undefined) =>
    fn &&
    ((a: A) => {
      try {
        fn.call(user, a);
      } catch (err) {
        warnOnce(name, err);
      }
    });
  const onRetry = guard('onRetry', user.onRetry);
  if (onRetry) events.on('retry', onRetry);
  const onBudget = guard('onBudgetExhausted', user.onBudgetExhausted);
  if (onBudget) {
    events.on('retry', (e) => {
      if (e.decision === 'budget-exhausted') onBudget({ destination: e.destination, namespace: e.namespace, route: e.route });
    });
  }
  const onEjection = guard('onEjection', user.onEjection);
  if (onEjection) events.on('ejection', onEjection);
  const onReturn = guard('onReturn', user.onReturn);
  if (onReturn) events.on('return', onReturn);
  const onLimited = guard('onLimited', user.onLimited);
  if (onLimited) events.on('limited', onLimited);
  const onShed = guard('onShed', user.onShed);
  if (onShed) events.on('shed', onShed);
}
