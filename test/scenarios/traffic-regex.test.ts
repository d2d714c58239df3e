/**
 * Issue 13, defect 2: route regexes that backtrack catastrophically in V8
 * (`(a|a)*` took 55 s on a 31-character header, `/.*.*.*.*.*x` 104 s on a
 * 401-character path) are applied through a real control plane, and a real
 * mesh client (its own process, so that a freeze cannot take the test runner
 * with it) sends the attack input: the call must answer promptly and go where
 * the route says, and ordinary values must still match as before.
 */
import assert from 'node:assert/strict';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { startControlPlane, type RunningControlPlane } from '../helpers/control-plane.js';
import { buildDir, startNode, type Child } from '../helpers/process.js';
import type { ProbePlan, ProbeRequest } from '../helpers/route-probe.js';
import { startApi, type RunningService } from '../helpers/services.js';
import { API_SUBSETS, apply, routeDoc, serviceDoc } from './traffic-helpers.js';

/** Far above what the linear engine needs (milliseconds), far below the old freeze (tens of seconds to hours). */
const PROMPT_MS = 2_000;
/** How long the test waits for the probe's answer line before calling the call frozen. */
const FROZEN_AFTER_MS = 20_000;

const ATTACKS: { name: string; pattern: string; where: 'path' | 'x-a' | 'x-b' | 'x-c'; input: string; ordinary: string }[] = [
  { name: '(a|a)* on a 31-character header', pattern: '(a|a)*', where: 'x-a', input: `${'a'.repeat(30)}b`, ordinary: 'aaaa' },
  { name: '/.*.*.*.*.*x on a 401-character path', pattern: '/.*.*.*.*.*x', where: 'path', input: `/${'a'.repeat(400)}`, ordinary: '/items/x' },
  { name: '(a|aa)* on a 41-character header', pattern: '(a|aa)*', where: 'x-b', input: `${'a'.repeat(40)}b`, ordinary: 'aaaaa' },
  { name: '(\\w|\\d)* on a 31-character header', pattern: '(\\w|\\d)*', where: 'x-c', input: `${'1'.repeat(30)}!`, ordinary: 'a1_b2' },
];

function requestFor(where: (typeof ATTACKS)[number]['where'], value: string): ProbeRequest {
  return where === 'path' ? { path: value } : { path: '/items', headers: { [where]: value } };
}

describe('route regexes run in linear time (real control plane, api v1 and v2, a mesh client in its own process)', () => {
  let cp: RunningControlPlane;
  let apis: RunningService[] = [];
  const probes: Child[] = [];

  before(async () => {
    cp = await startControlPlane();
    apis = await Promise.all(['v1', 'v2'].map((v) => startApi(cp, v)));
    // Every attack pattern sends its matches to v2; anything else falls to the catch-all, v1.
    await apply(
      cp.url,
      serviceDoc('api', { subsets: API_SUBSETS }),
      routeDoc('regexes', [
        ...ATTACKS.map((a, i) => ({
          name: `attack-${i}`,
          matches: [a.where === 'path' ? { path: { type: 'RegularExpression', value: a.pattern } } : { headers: [{ type: 'RegularExpression', name: a.where, value: a.pattern }] }],
          backendRefs: [{ name: 'api', subset: 'v2' }],
        })),
        { name: 'rest', backendRefs: [{ name: 'api', subset: 'v1' }] },
      ]),
    );
  });
  after(async () => {
    await Promise.all(probes.map((p) => p.kill('SIGKILL')));
    await Promise.all(apis.map((a) => a.child.kill()));
    await cp?.stop();
  });

  /** Start a probe that waits for the route (an ordinary `x-a` value reaches v2), then sends `requests`; resolves with their answers. */
  async function probe(requests: ProbeRequest[]): Promise<{ status: number; version: string; ms: number }[]> {
    const plan: ProbePlan = { ready: { path: '/items', headers: { 'x-a': 'aa' }, version: 'v2', timeoutMs: 15_000 }, requests };
    const child = startNode(path.join(buildDir, 'test/helpers/route-probe.js'), [JSON.stringify(plan)], await cp.env('route-probe'));
    probes.push(child);
    await child.waitFor(/^ready$/, 30_000);
    const answers = [];
    for (let i = 0; i < requests.length; i++) {
      let m: RegExpMatchArray;
      try {
        m = await child.waitFor(new RegExp(`^answer ${i} (\\d+) (\\S+) ([\\d.]+)$`), FROZEN_AFTER_MS);
      } catch {
        await child.kill('SIGKILL');
        assert.fail(`request ${i} (${JSON.stringify(requests[i]).slice(0, 80)}...) got no answer within ${FROZEN_AFTER_MS} ms: the client is frozen`);
      }
      answers.push({ status: Number(m[1]), version: m[2]!, ms: Number(m[3]) });
    }
    await child.exited;
    return answers;
  }

  for (const a of ATTACKS) {
    it(`${a.name}: the call answers promptly and falls to the catch-all`, async () => {
      const [attack, ordinary] = await probe([requestFor(a.where, a.input), requestFor(a.where, a.ordinary)]);
      console.log(`${a.pattern}: attack input (${a.input.length} chars) answered by ${attack!.version} in ${attack!.ms} ms; ordinary ${JSON.stringify(a.ordinary)} by ${ordinary!.version}`);
      assert.equal(attack!.status, 200);
      assert.ok(attack!.ms < PROMPT_MS, `the attack input took ${attack!.ms} ms (bound ${PROMPT_MS} ms)`);
      assert.equal(attack!.version, 'v1', 'the attack input does not match the regex, so the catch-all answers');
      assert.equal(ordinary!.version, 'v2', `${JSON.stringify(a.ordinary)} matches ${a.pattern} in full`);
    });
  }
});
