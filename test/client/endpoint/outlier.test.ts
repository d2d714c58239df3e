import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { compose } from '../../../src/core/filter.js';
import { ErrorCode, MeshError } from '../../../src/core/errors.js';
import { outlierDetection } from '../../../src/client/endpoint/outlier.js';
import { errorVerdict } from '../../../src/core/classifier.js';
import { OutlierDetector } from '../../../src/resilience/outlier-detector.js';
import { FakeClock } from '../../helpers/fake-clock.js';
import { defaultOutlierDetection } from '../../helpers/resilience-defaults.js';
import { dispatchThrough, fakeEndpoint, flush, newCall, ScriptedTransport, sysError, testBalance, type Step } from '../../helpers/client-fakes.js';

function setup(script: Step[], n = 10) {
  const clock = new FakeClock(0);
  const eps = Array.from({ length: n }, (_, i) => fakeEndpoint(i + 1));
  const detector = new OutlierDetector(defaultOutlierDetection, () => eps.length, clock);
  const transport = new ScriptedTransport(script);
  const handle = compose([testBalance(() => eps), outlierDetection(detector)], transport.handle);
  return { clock, eps, detector, transport, handle };
}

async function calls(handle: ReturnType<typeof setup>['handle'], n: number): Promise<void> {
  for (let i = 0; i < n; i++) await dispatchThrough(handle, newCall().call);
}

describe('outlier reporting filter (fake transport, fake clock)', () => {
  it('5 consecutive 5xx eject the endpoint: it becomes unavailable and the balancer moves on', async () => {
    const { handle, eps, transport } = setup([{ status: 500 }]);
    await calls(handle, 5);
    assert.equal(eps[0]!.available, false);
    assert.equal(eps[0]!.health?.state, 'ejected');
    await calls(handle, 1);
    assert.equal(transport.sent.at(-1)!.endpoint, eps[1]!.id);
  });

  it('connect errors and resets count; 4xx and 2xx do not', async () => {
    const { handle, eps } = setup([{ error: sysError('ECONNREFUSED') }, { error: sysError('ECONNRESET') }, { status: 404 }, { error: sysError('UND_ERR_SOCKET') }, { status: 502 }, { status: 503 }]);
    await calls(handle, 3);
    assert.equal(eps[0]!.health?.consecutiveFailures, 0, 'the 404 reset the count: the endpoint answers');
    await calls(handle, 3);
    assert.equal(eps[0]!.health?.consecutiveFailures, 3);
  });

  it("the call's own abort and the peer mesh's refusals are neutral", async () => {
    const { handle, eps } = setup([
      { error: sysError('ECONNRESET') },
      { status: 503, headers: { 'x-hyphae-rejected': 'shed' } },
      { status: 504, headers: { 'x-hyphae-rejected': 'deadline' } },
      { error: new MeshError(ErrorCode.NO_ENDPOINTS, 'never sent', { rejected: true }) },
      { error: sysError('UND_ERR_INVALID_ARG') },
      'hang',
    ]);
    await calls(handle, 5);
    assert.equal(eps[0]!.health?.consecutiveFailures, 1);
    const { call } = newCall();
    const p = dispatchThrough(handle, call);
    await flush();
    call.abort(new Error('application abort'));
    await p;
    assert.equal(eps[0]!.health?.consecutiveFailures, 1);
  });

  it('one connection failure shared by many calls (the streams of an HTTP/2 session) counts once; a graceful GOAWAY not at all', async () => {
    const sessionDied = sysError('UND_ERR_SOCKET', 'other side closed');
    const goaway = sysError('UND_ERR_SOCKET', 'HTTP/2: "GOAWAY" frame received with code 0');
    const { handle, eps } = setup([{ error: sessionDied }, { error: sessionDied }, { error: sessionDied }, { error: sessionDied }, { error: sessionDied }, { error: goaway }, { error: goaway }]);
    await calls(handle, 5);
    assert.equal(eps[0]!.health?.consecutiveFailures, 1, 'five streams of one dead session: one failure');
    assert.equal(eps[0]!.available, true);
    await calls(handle, 2);
    assert.equal(eps[0]!.health?.consecutiveFailures, 1, 'the drain (GOAWAY NO_ERROR) holds nothing against the endpoint');
    const v = errorVerdict(goaway);
    assert.deepEqual([v.outcome, v.condition, v.endpoint], ['retryable', 'reset', 'neutral'], 'and the calls it cut are retried as resets');
  });

  it('after the ejection, exactly one trial request; its success brings the endpoint back', async () => {
    const { handle, eps, clock, transport } = setup([{ status: 500 }, { status: 500 }, { status: 500 }, { status: 500 }, { status: 500 }, 'hang']);
    await calls(handle, 5);
    clock.advance(30_000);
    assert.equal(eps[0]!.available, true);
    const trial = newCall();
    const p = dispatchThrough(handle, trial.call);
    await flush();
    assert.equal(transport.sent.at(-1)!.endpoint, eps[0]!.id, 'the returning endpoint takes the trial');
    assert.equal(eps[0]!.available, false, 'no second request while the trial is out');
    trial.call.abort(new Error('stop'));
    await p;
    assert.equal(eps[0]!.available, true, 'an aborted trial says nothing: another trial may go');
  });

  it('a closed endpoint is not tracked', async () => {
    const { handle, eps } = setup([{ status: 200 }], 1);
    await eps[0]!.close();
    await calls(handle, 1);
    assert.equal(eps[0]!.health, undefined);
  });
});
