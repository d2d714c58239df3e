/** What a Route must satisfy beyond its schema, each problem with its field path. */
import type { RouteResource } from '../../config/resources.js';
import { regexError } from '../../config/regex.js';
import type { ValidationIssue } from '../../config/validate.js';
import { checkGatewayParent } from './gateway-checks.js';
import type { World } from './world.js';

interface Ref {
  name: string;
  namespace?: string | undefined;
  subset?: string | undefined;
}

export function checkRoute(route: RouteResource, at: string, world: World): ValidationIssue[] {
  const issues: ValidationIssue[] = [];
  const issue = (path: string, message: string) => issues.push({ path: `${at}${path}`, message });
  const ns = route.metadata.namespace;

  route.spec.parentRefs.forEach((p, k) => {
    if (p.kind === 'Gateway') checkGatewayParent(route, k, world, issue);
    else checkService(p, ns, `spec.parentRefs[${k}]`, world, issue);
  });

  const names = new Map<string, number>();
  route.spec.rules.forEach((rule, r) => {
    const base = `spec.rules[${r}]`;
    if (rule.name !== undefined) {
      const first = names.get(rule.name);
      if (first !== undefined) issue(`${base}.name`, `duplicate rule name "${rule.name}" (also spec.rules[${first}].name); rule names must be unique in a route`);
      else names.set(rule.name, r);
    }

    rule.matches.forEach((m, i) => {
      const where = `${base}.matches[${i}]`;
      if (m.path?.type === 'RegularExpression') regex(m.path.value, `${where}.path.value`, issue);
      m.headers?.forEach((h, k) => h.type === 'RegularExpression' && regex(h.value!, `${where}.headers[${k}].value`, issue));
      m.queryParams?.forEach((q, k) => q.type === 'RegularExpression' && regex(q.value!, `${where}.queryParams[${k}].value`, issue));
    });

    if (rule.backendRefs.every((b) => b.weight === 0)) {
      issue(`${base}.backendRefs`, 'every backend has weight 0, so no request could be sent; give at least one a weight above 0');
    }
    rule.backendRefs.forEach((b, k) => checkService(b, ns, `${base}.backendRefs[${k}]`, world, issue));

    const seen = new Map<string, number>();
    (rule.filters ?? []).forEach((f, k) => {
      const where = `${base}.filters[${k}]`;
      if (f.type === 'URLRewrite' || f.type === 'Fault' || f.type === 'LocalRateLimit') {
        const first = seen.get(f.type);
        if (first !== undefined) issue(where, `a rule takes one ${f.type} filter (also filters[${first}])`);
        else seen.set(f.type, k);
      }
      if (f.type === 'URLRewrite' && f.urlRewrite.path.type === 'ReplacePrefixMatch') {
        const bad = rule.matches.findIndex((m) => (m.path?.type ?? 'PathPrefix') !== 'PathPrefix');
        if (bad >= 0) issue(`${where}.urlRewrite.path`, `ReplacePrefixMatch needs every match of the rule to be a PathPrefix (matches[${bad}] is not)`);
      }
      if (f.type === 'RequestMirror') checkService(f.requestMirror.backendRef, ns, `${where}.requestMirror.backendRef`, world, issue);
    });
  });
  return issues;
}

function regex(pattern: string, path: string, issue: (path: string, message: string) => void): void {
  const why = regexError(pattern);
  if (why !== undefined) issue(path, `regular expression "${pattern.slice(0, 100)}" ${why}`);
}

/** The service must be known; a subset must be defined on its Service and carried by some registered instance. */
function checkService(ref: Ref, routeNamespace: string, path: string, world: World, issue: (path: string, message: string) => void): void {
  const namespace = ref.namespace ?? routeNamespace;
  const svc = `${namespace}/${ref.name}`;
  if (!world.known(namespace, ref.name)) {
    issue(`${path}.name`, `unknown service ${svc}: there is no Service resource for it and no instance of it has registered`);
    return;
  }
  if (ref.subset === undefined) return;
  const service = world.service(namespace, ref.name);
  const subsets = service?.spec.subsets ?? [];
  const subset = subsets.find((s) => s.name === ref.subset);
  if (!subset) {
    const defined = subsets.length > 0 ? `it defines ${subsets.map((s) => s.name).join(', ')}` : 'it defines none';
    issue(`${path}.subset`, `subset "${ref.subset}" is not defined on Service ${svc} (spec.subsets: ${service ? defined : 'there is no Service resource'})`);
    return;
  }
  const labels = Object.entries(subset.labels);
  const carried = world.instances(namespace, ref.name).some((i) => labels.every(([k, v]) => i.labels[k] === v));
  if (!carried) {
    issue(`${path}.subset`, `no registered instance of ${svc} carries the labels of subset "${ref.subset}" (${labels.map(([k, v]) => `${k}=${v}`).join(', ')})`);
  }
}
