/**
 * The balancers a Service's `loadBalancer` may name: the four built in
 * (factory.ts) and any an application registers with `registerBalancer()`
 * (hyphae/extend). The control plane accepts any well-formed name, since it
 * cannot know what each client registered; each client checks the name when
 * the Service reaches it, and refuses a name it does not know with
 * HYPHAE_ERR_INVALID_CONFIG (the last good balancer stays in force).
 *
 * Process-wide, as a name means one algorithm in a process: register before
 * creating the mesh that receives the Service.
 */
import { ErrorCode, MeshError } from '../../../core/errors.js';
import { BUILTIN_BALANCERS, CUSTOM_BALANCER_NAME, type LoadBalancerName } from '../../../config/resources.js';
import type { Balancer } from '../balancer.js';
import { balancerFactory, type BalancerSettings } from './factory.js';

/**
 * Makes a balancer for one endpoint list. Called once per list — the whole
 * service, each subset, each locality view — and again when the Service
 * changes: balancers keep state about the list they pick from.
 */
export type BalancerFactory = (context: { service: string; namespace: string }) => Balancer;

const registered = new Map<string, BalancerFactory>();

/** Make `name` selectable by a Service's `loadBalancer`. */
export function registerBalancer(name: string, factory: BalancerFactory): void {
  if ((BUILTIN_BALANCERS as readonly string[]).includes(name)) {
    throw new MeshError(ErrorCode.INVALID_OPTIONS, `registerBalancer: ${name} is a built-in balancer and cannot be replaced`, { details: { name } });
  }
  if (!CUSTOM_BALANCER_NAME.test(name)) {
    throw new MeshError(
      ErrorCode.INVALID_OPTIONS,
      `registerBalancer: ${JSON.stringify(name)} is not a registered balancer's name: kebab-case with at least one hyphen (my-lb), at most 63 characters, so that it never reads as a built-in or a typo of one`,
      {
        details: { name },
      },
    );
  }
  if (typeof factory !== 'function') throw new MeshError(ErrorCode.INVALID_OPTIONS, `registerBalancer: the factory of ${name} must be a function`, { details: { name } });
  registered.set(name, factory);
}

/** Forget a registered balancer (tests); services already using it keep the balancers they made. */
export function unregisterBalancer(name: string): boolean {
  return registered.delete(name);
}

export function isKnownBalancer(name: string): boolean {
  return (BUILTIN_BALANCERS as readonly string[]).includes(name) || registered.has(name);
}

/** The balancers a Service may name in this process, for messages. */
export function knownBalancers(): string[] {
  return [...BUILTIN_BALANCERS, ...registered.keys()];
}

/** The factory of the balancer `settings` names; undefined when it is neither built in nor registered. */
export function balancerFactoryFor(settings: Omit<BalancerSettings, 'loadBalancer'> & { loadBalancer: string }, context: { service: string; namespace: string }): (() => Balancer) | undefined {
  if ((BUILTIN_BALANCERS as readonly string[]).includes(settings.loadBalancer)) {
    return balancerFactory({ ...settings, loadBalancer: settings.loadBalancer as LoadBalancerName });
  }
  const custom = registered.get(settings.loadBalancer);
  return custom && (() => custom(context));
}
