/**
 * The configuration against what runs: routes that send to services or
 * subsets no instance can serve, and authorization policies that refuse every
 * request. An apply checks routes once (validation/route-checks.ts), but
 * instances leave afterwards, and a policy that denies everything is valid.
 */
import type { AuthorizationPolicyResource, Resource, RouteResource, ServiceResource } from '../../config/resources.js';
import type { MeshSummary } from '../../control-plane/stats/summary.js';
import type { Facts } from './facts.js';
import type { CheckResult } from './result.js';

const CATEGORY = 'configuration';

interface Ref {
  name: string;
  namespace?: string | undefined;
  subset?: string | undefined;
}

export function configChecks(f: Facts): CheckResult[] {
  if (!f.resources.ok || !f.summary.ok) {
    if (!f.health.ok) return [];
    const why = !f.resources.ok ? f.resources : (f.summary as Extract<typeof f.summary, { ok: false }>);
    return [{ category: CATEGORY, check: 'resources', verdict: 'fail', message: `cannot read the configuration: ${why.error}`, ...(why.hint && { hint: why.hint }) }];
  }
  return [...routeChecks(f.resources.value, f.summary.value), ...policyChecks(f.resources.value)];
}

export function routeChecks(resources: readonly Resource[], summary: Pick<MeshSummary, 'services' | 'instances'>): CheckResult[] {
  const out: CheckResult[] = [];
  const services = new Map<string, ServiceResource>();
  for (const r of resources) if (r.kind === 'Service') services.set(`${r.metadata.namespace}/${r.metadata.name}`, r);
  const known = new Set(summary.services.map((s) => `${s.namespace}/${s.name}`));
  const routes = resources.filter((r): r is RouteResource => r.kind === 'Route');
  for (const route of routes) {
    const ns = route.metadata.namespace;
    const id = `Route ${ns}/${route.metadata.name}`;
    route.spec.parentRefs.forEach((p, k) => {
      // A Gateway parent cannot dangle: the control plane refuses a route to a missing gateway or listener,
      // and the delete of a gateway that routes attach to.
      if (p.kind === 'Gateway') return;
      const svc = `${p.namespace ?? ns}/${p.name}`;
      if (!services.has(svc) && !known.has(svc)) {
        out.push(
          line(
            'route-parents',
            'warn',
            `${id} is attached to ${svc} (spec.parentRefs[${k}]), which is not a known service: the route applies to no call`,
            'correct the parentRef, or apply a Service resource for it',
          ),
        );
      }
    });
    route.spec.rules.forEach((rule, r) => {
      const refs: { ref: Ref; where: string }[] = [
        // A backend of weight 0 takes no traffic (a split being drained): what it points at does not matter.
        ...rule.backendRefs.flatMap((b, k) => (b.weight === 0 ? [] : [{ ref: b, where: `spec.rules[${r}].backendRefs[${k}]` }])),
        ...(rule.filters ?? []).flatMap((fl, k) => (fl.type === 'RequestMirror' ? [{ ref: fl.requestMirror.backendRef, where: `spec.rules[${r}].filters[${k}]` }] : [])),
      ];
      for (const { ref, where } of refs) {
        const problem = backendProblem(ref, ns, services, known, summary.instances);
        if (problem) out.push(line('route-backends', 'fail', `${id} ${where}: ${problem.message}`, problem.hint));
      }
    });
  }
  if (out.length === 0)
    out.push({ category: CATEGORY, check: 'route-backends', verdict: 'ok', message: `every route sends to instances that exist (${routes.length} route${routes.length === 1 ? '' : 's'})` });
  return out;
}

function backendProblem(
  ref: Ref,
  routeNamespace: string,
  services: Map<string, ServiceResource>,
  known: Set<string>,
  instances: MeshSummary['instances'],
): { message: string; hint: string } | undefined {
  const namespace = ref.namespace ?? routeNamespace;
  const svc = `${namespace}/${ref.name}`;
  const service = services.get(svc);
  if (!service && !known.has(svc)) {
    return { message: `sends to ${svc}, which is not a known service`, hint: 'start the service, apply a Service resource for it, or correct the backendRef' };
  }
  const running = instances.filter((i) => i.namespace === namespace && i.service === ref.name);
  if (ref.subset === undefined) {
    return running.length === 0 ? { message: `sends to ${svc}, which has no instances`, hint: `its requests fail with HYPHAE_ERR_NO_ENDPOINTS: start ${svc}, or send elsewhere` } : undefined;
  }
  const subset = service?.spec.subsets?.find((s) => s.name === ref.subset);
  if (!subset) {
    const defined = service?.spec.subsets?.map((s) => s.name).join(', ');
    return {
      message: `sends to subset "${ref.subset}" of ${svc}, which ${service ? `defines ${defined ? `only ${defined}` : 'no subsets'}` : 'has no Service resource to define it'}`,
      hint: `define the subset in Service ${svc} (spec.subsets), or change the route`,
    };
  }
  const labels = Object.entries(subset.labels);
  if (!running.some((i) => labels.every(([k, v]) => i.labels[k] === v))) {
    const want = labels.map(([k, v]) => `${k}=${v}`).join(', ');
    return {
      message: `sends to subset "${ref.subset}" of ${svc} (${want}), which no running instance carries`,
      hint: `its share of requests fails with HYPHAE_ERR_NO_ENDPOINTS: start an instance labelled ${want}, or set the backend's weight to 0`,
    };
  }
  return undefined;
}

/** Policies under which no request reaches the services they select: an ALLOW with no rules, a DENY with a rule that matches everything. */
export function policyChecks(resources: readonly Resource[]): CheckResult[] {
  const out: CheckResult[] = [];
  const policies = resources.filter((r): r is AuthorizationPolicyResource => r.kind === 'AuthorizationPolicy');
  for (const p of policies) {
    const ns = p.metadata.namespace;
    const target = p.spec.selector ? `service ${ns}/${p.spec.selector.service}` : `every service in namespace ${ns}`;
    const id = `AuthorizationPolicy ${ns}/${p.metadata.name}`;
    if (p.spec.action === 'ALLOW' && p.spec.rules.length === 0) {
      out.push(line('policies', 'fail', `${id} (ALLOW with no rules) denies every request to ${target}`, 'add the rules that say who may call, or delete the policy; a rule {} allows every request'));
    }
    if (p.spec.action === 'DENY') {
      const k = p.spec.rules.findIndex(matchesEverything);
      if (k >= 0)
        out.push(line('policies', 'fail', `${id} (DENY, spec.rules[${k}] matches every request) denies every request to ${target}`, 'narrow the rule (from, to, when), or delete the policy'));
    }
  }
  if (out.length === 0)
    out.push({ category: CATEGORY, check: 'policies', verdict: 'ok', message: `no authorization policy denies everything (${policies.length} polic${policies.length === 1 ? 'y' : 'ies'})` });
  return out;
}

/** A rule with no caller or header condition, and no path or method narrower than every request (PathPrefix "/"). */
function matchesEverything(rule: AuthorizationPolicyResource['spec']['rules'][number]): boolean {
  if (rule.from !== undefined || rule.when !== undefined) return false;
  if (rule.to === undefined) return true;
  if (rule.to.methods !== undefined) return false;
  return rule.to.paths?.some((p) => p.type === 'PathPrefix' && p.value === '/') ?? true;
}

function line(check: string, verdict: CheckResult['verdict'], message: string, hint: string): CheckResult {
  return { category: CATEGORY, check, verdict, message, hint };
}
