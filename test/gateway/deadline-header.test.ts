/**
 * A client outside the mesh does not set the budget of the gateway's call: its x-hyphae-deadline-ms is
 * dropped unless the Gateway says `edge.trustDeadlineHeader: true` (a live change), as Envoy believes its
 * x-envoy-* timeouts only from internal requests. The control plane as a child process, a service built
 * with the library, the gateway in process, real curl.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { RunningGateway } from '../../src/gateway/start-gateway.js';
import { startControlPlane, type RunningControlPlane } from '../helpers/control-plane.js';
import { apply, boundPort, curl, meta, startBackend, startTestGateway, type Backend, type Echo } from '../helpers/gateway.js';

const API = 'hyphae.dev/v1';
const route = { apiVersion: API, kind: 'Route', metadata: meta('to-a'), spec: { parentRefs: [{ kind: 'Gateway', name: 'edge' }], rules: [{ backendRefs: [{ name: 'a' }] }] } };
const gateway = (edge: object) => ({ apiVersion: API, kind: 'Gateway', metadata: meta('edge'), spec: { listeners: [{ name: 'http', port: 8080, protocol: 'HTTP' }], edge } });

describe('hyphae gateway: x-hyphae-deadline-ms from outside the mesh', () => {
  let cp: RunningControlPlane;
  let a: Backend;
  let gw: RunningGateway;
  let port: number;

  before(async () => {
    cp = await startControlPlane();
    a = await startBackend(cp, 'a');
    await apply(cp, gateway({}), route);
    gw = await startTestGateway(cp, 'edge', [8080]);
    await gw.ready;
    port = boundPort(gw, 8080);
  });

  after(async () => {
    await gw?.close();
    await a?.close();
    await cp?.stop();
  });

  /** What `a` received for a request that carried `budget` as its deadline header. */
  const send = (budget: string) => curl(['-H', `x-hyphae-deadline-ms: ${budget}`, `http://127.0.0.1:${port}/echo`]);
  const budgetSeen = async (budget: string): Promise<string | undefined> => {
    const r = await send(budget);
    assert.equal(r.status, 200, r.body);
    const seen = (JSON.parse(r.body) as Echo).headers['x-hyphae-deadline-ms'];
    assert.ok(!Array.isArray(seen), 'one deadline field at most');
    return seen;
  };

  it('by default the client’s budget is dropped: a has no timeouts, so its call carries none, and 0 is no refusal', async () => {
    assert.equal(await budgetSeen('250'), undefined);
    assert.equal(await budgetSeen('0'), undefined, 'a budget of 0 from outside is not believed either');
  });

  it('with edge.trustDeadlineHeader on (applied live) the call gets no more than the client’s budget, and 0 is answered 504', async () => {
    await apply(cp, gateway({ trustDeadlineHeader: true }));
    await gw.settled();
    const seen = await budgetSeen('250');
    assert.ok(seen !== undefined && Number(seen) > 0 && Number(seen) <= 250, `a hears what is left of 250 ms, got ${seen}`);
    const none = await send('0');
    assert.equal(none.status, 504, none.body);
    assert.match(none.body, /HYPHAE_ERR_DEADLINE_EXCEEDED/);

    await apply(cp, gateway({ trustDeadlineHeader: false }));
    await gw.settled();
    assert.equal(await budgetSeen('250'), undefined, 'turned off again, live');
  });
});
