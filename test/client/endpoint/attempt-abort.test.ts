import assert from 'node:assert/strict';
import { it } from 'node:test';
import { Attempt } from '../../../src/client/endpoint/attempt.js';
import { fakeEndpoint, newCall } from '../../helpers/client-fakes.js';

it('an attempt aborted before undici connected it settles at once, and undici is told when it connects', async () => {
  const { call } = newCall();
  const ep = fakeEndpoint(1);
  call.endpoint = ep;
  const attempt = new Attempt(call, ep);
  const reason = new Error('deadline');
  call.abortAttempt(reason);
  await assert.rejects(attempt.promise, (e) => e === reason);
  assert.equal(ep.inflight, 1, 'still in flight: undici has not let go of the request yet');
  // undici connects the request later: it gets the abort right away, then reports the error.
  const handed: Error[] = [];
  attempt.onConnect((err) => {
    handed.push(err);
    attempt.onError(err);
  });
  assert.deepEqual(handed, [reason]);
  assert.equal(ep.inflight, 0);
  // Nothing more reaches the application's handler through this attempt.
  assert.equal(
    attempt.onHeaders(200, [], () => {}, 'OK'),
    true,
  );
});

it('an attempt aborted once connected uses undici abort, as before', async () => {
  const { call } = newCall();
  const ep = fakeEndpoint(1);
  const attempt = new Attempt(call, ep);
  const handed: Error[] = [];
  attempt.onConnect((err) => {
    handed.push(err);
    attempt.onError(err);
  });
  const reason = new Error('stop');
  call.abort(reason);
  await assert.rejects(attempt.promise, (e) => e === reason);
  assert.deepEqual(handed, [reason]);
  assert.equal(ep.inflight, 0);
});
