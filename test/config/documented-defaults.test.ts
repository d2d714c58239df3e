/**
 * docs/usage.md's "Defaults of a Service" and "Defaults of a Route rule" tables against what the schema
 * applies (issue 15: one home for every default, and docs that cannot drift from it). Each documented
 * value is read as a user's setting would be (through the schema: "10s" is 10000 ms), and compared with
 * the value a client gets for an absent spec and for partial ones; every default the schema applies must
 * have its row, and every row must name a field that exists.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, it } from 'node:test';
import { parse as parseYaml } from 'yaml';
import { resolvedServiceSpecSchema, resolveRetryPolicy, resolveServiceSpec, routeResourceSchema, routeRuleSchema, serviceSpecSchema } from '../../src/config/resources.js';
import { repoRoot } from '../helpers/process.js';

interface Row {
  setting: string;
  /** The documented value as written (YAML); undefined for "none". */
  value: unknown;
}

const doc = readFileSync(path.join(repoRoot, 'docs/usage.md'), 'utf8');

/** The rows of the table in the section under `heading`: `` | `setting` | `value` (note) | `` or `` | `setting` | none (note) | ``. */
function table(heading: string): Row[] {
  const lines = doc.split('\n');
  const start = lines.indexOf(heading);
  assert.ok(start >= 0, `docs/usage.md has a "${heading}" section`);
  const rows: Row[] = [];
  for (const line of lines.slice(start + 1)) {
    if (/^#{1,4} /.test(line)) break;
    const m = /^\| `([^`]+)` \| (.+) \|$/.exec(line);
    if (!m) continue;
    const [, setting, cell] = m as unknown as [string, string, string];
    const value = /^`([^`]+)`/.exec(cell);
    if (value) rows.push({ setting, value: parseYaml(value[1]!) as unknown });
    else {
      assert.match(cell, /^none\b/, `${setting}: a documented default is \`value\` or none`);
      rows.push({ setting, value: undefined });
    }
  }
  assert.ok(rows.length > 0, `"${heading}" has a table of defaults`);
  return rows;
}

function segments(setting: string): string[] {
  return setting.split('.');
}

function at(value: unknown, setting: string): unknown {
  let v = value;
  for (const key of segments(setting)) v = v === undefined ? undefined : (v as Record<string, unknown>)[key];
  return v;
}

function withSetting(setting: string, value: unknown): Record<string, unknown> {
  const keys = segments(setting);
  const root: Record<string, unknown> = {};
  let node = root;
  for (const key of keys.slice(0, -1)) node = node[key] = {} as Record<string, unknown>;
  node[keys.at(-1)!] = value;
  return root;
}

/** What the schema makes of the documented value when a user writes it (durations to ms...). */
function asApplied(row: Row): unknown {
  if (row.value === undefined) return undefined;
  return at(resolvedServiceSpecSchema.parse(withSetting(row.setting, row.value)), row.setting);
}

/** Every leaf the schema fills in (arrays count as leaves). */
function leaves(value: unknown, prefix = ''): string[] {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) return [prefix];
  return Object.entries(value).flatMap(([k, v]) => leaves(v, prefix ? `${prefix}.${k}` : k));
}

const service = table('#### Defaults of a Service');
const rule = table('#### Defaults of a Route rule');

describe('docs/usage.md: defaults of a Service', () => {
  it('names only fields of the Service spec (a renamed or removed field fails here)', () => {
    // A strict schema refuses an unknown key even with an undefined value: the check below can fail.
    assert.equal(resolvedServiceSpecSchema.safeParse(withSetting('retryBudget.ttl', undefined)).success, false);
    for (const row of service) {
      const r = resolvedServiceSpecSchema.safeParse(withSetting(row.setting, undefined));
      assert.ok(r.success, `${row.setting} is not a field of Service.spec`);
    }
  });

  it('states, for every setting, what a service without a Service resource gets', () => {
    const applied = resolveServiceSpec(null);
    for (const row of service) assert.deepEqual(at(applied, row.setting), asApplied(row), `spec.${row.setting}`);
  });

  it('leaves no default out', () => {
    const documented = new Set(service.map((r) => r.setting));
    const missing = leaves(resolveServiceSpec(null)).filter((leaf) => !documented.has(leaf));
    assert.deepEqual(missing, [], 'defaults the schema applies that the table does not state');
  });

  // One partial group per group of the spec, each setting one field away from its default: the fields it
  // leaves out must get exactly what an absent group gets. Stored first, as the control plane stores it.
  const partials: Record<string, unknown>[] = [
    { peakEwma: { decay: '5s' } },
    { ringHash: { header: 'x-user' } },
    { locality: { zoneLabel: 'rack' } },
    { timeouts: { request: '2s' } },
    { retries: { attempts: 3 } },
    { retries: { backoff: { max: '1s' } } },
    { retryBudget: { window: '5s' } },
    { outlierDetection: { consecutiveFailures: 3 } },
    { limits: { maxPending: 0 } },
  ];

  it('holds for partial groups too: a field left out of a group gets the documented default', () => {
    for (const partial of partials) {
      const applied = resolveServiceSpec(serviceSpecSchema.parse(partial));
      const group = Object.keys(partial)[0]!;
      const set = new Set(leaves(partial));
      for (const row of service.filter((r) => r.setting.startsWith(`${group}.`))) {
        if (set.has(row.setting)) {
          assert.notDeepEqual(at(applied, row.setting), asApplied(row), `${JSON.stringify(partial)} sets ${row.setting} away from its default`);
        } else {
          assert.deepEqual(at(applied, row.setting), asApplied(row), `${row.setting} with ${JSON.stringify(partial)}`);
        }
      }
    }
  });

  it('has a partial case for every group of the spec', () => {
    const groups = Object.entries(resolveServiceSpec(null))
      .filter(([, v]) => v !== null && typeof v === 'object' && !Array.isArray(v))
      .map(([k]) => k);
    const covered = new Set(partials.map((p) => Object.keys(p)[0]));
    assert.deepEqual(
      groups.filter((g) => !covered.has(g)),
      [],
    );
  });

  it("a Route rule's partial retry: what it leaves out is the documented default, not the Service's", () => {
    const r = routeRuleSchema.parse({ backendRefs: [{ name: 'api' }], retry: { attempts: 3 } });
    const applied = resolveRetryPolicy(r.retry!);
    assert.equal(applied.attempts, 3);
    for (const row of service.filter((x) => x.setting.startsWith('retries.') && x.setting !== 'retries.attempts')) {
      assert.deepEqual(at({ retries: applied }, row.setting), asApplied(row), `rule retry: ${row.setting}`);
    }
  });
});

describe('docs/usage.md: defaults of a Route rule', () => {
  // A rule with nothing but its backend (for its own fields), and one with one of each nested element
  // that leaves out the fields under test (for theirs).
  const route = routeResourceSchema.parse({
    apiVersion: 'hyphae.dev/v1',
    kind: 'Route',
    metadata: { name: 'r' },
    spec: {
      parentRefs: [{ name: 'api' }],
      rules: [
        { backendRefs: [{ name: 'api' }] },
        {
          matches: [{ path: { value: '/x' }, headers: [{ name: 'x-a', value: '1' }], queryParams: [{ name: 'q', value: '1' }] }],
          filters: [{ type: 'RequestMirror', requestMirror: { backendRef: { name: 'api' } } }],
          backendRefs: [{ name: 'api' }],
        },
      ],
    },
  });
  const [bare, nested] = route.spec.rules as [unknown, unknown];

  function ruleAt(setting: string): unknown {
    assert.ok(setting.startsWith('rules[].'), `${setting}: a rule's setting`);
    const keys = setting.slice('rules[].'.length).split('.');
    let v: unknown = keys.length === 1 ? bare : nested;
    for (const key of keys) {
      const name = key.endsWith('[]') ? key.slice(0, -2) : key;
      v = v === undefined ? undefined : (v as Record<string, unknown>)[name];
      if (key.endsWith('[]')) v = (v as unknown[] | undefined)?.[0];
    }
    return v;
  }

  it('states what a rule gets for each setting it leaves out', () => {
    for (const row of rule) assert.deepEqual(ruleAt(row.setting), row.value, row.setting);
  });

  it('names only fields that exist (those it says are absent by default)', () => {
    const parses = (setting: string) => routeRuleSchema.safeParse({ backendRefs: [{ name: 'api' }], ...withSetting(setting, undefined) }).success;
    assert.equal(parses('timeouts.ttl'), false, 'a strict schema refuses an unknown key even when undefined');
    for (const row of rule.filter((r) => r.value === undefined)) {
      assert.ok(parses(row.setting.slice('rules[].'.length)), `${row.setting}: no such field of a rule`);
    }
  });
});
