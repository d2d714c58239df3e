/**
 * The Fault filter (a hyphae extension, after Istio's fault injection): delay
 * some requests, answer some with an error status without sending them. It
 * runs in the route layer, above retries, so an injected abort is the answer
 * (it is not retried), as in Envoy where the fault filter sits before the router.
 */
import { STATUS_CODES } from 'node:http';
import { Attempt } from '../../endpoint/attempt.js';
import type { MeshCall } from '../../call/mesh-call.js';
import { Endpoint } from '../../endpoint/endpoint.js';

/**
 * Injected answers belong to no endpoint; this stand-in keeps Attempt's
 * contract (an endpoint is always set) without touching a real endpoint's
 * counters, latency or health.
 */
const INJECTED = new Endpoint({ id: 'fault-injection', address: '0.0.0.0', port: 0, labels: {}, weight: 1 }, () => {
  throw new Error('an injected fault never opens a connection');
});

const BODY = Buffer.from('fault filter abort');
const noop = () => {};

/** An answer made here: the stack above sees it like any response. */
export function injectedAbort(call: MeshCall, status: number): Promise<Attempt> {
  const attempt = new Attempt(call, INJECTED);
  const headers = [Buffer.from('content-type'), Buffer.from('text/plain'), Buffer.from('content-length'), Buffer.from(String(BODY.length)), Buffer.from('x-hyphae-fault'), Buffer.from('abort')];
  attempt.onHeaders(status, headers, noop, STATUS_CODES[status] ?? '');
  attempt.onData(BODY);
  attempt.onComplete([]);
  return attempt.promise;
}

/** Wait `ms`, or fail with the application's abort reason if it aborts first. */
export function injectedDelay(call: MeshCall, ms: number): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    if (call.abortReason) return reject(call.abortReason);
    const timer = setTimeout(() => {
      call.setOnAbort(undefined);
      resolve();
    }, ms);
    call.setOnAbort((err) => {
      clearTimeout(timer);
      call.setOnAbort(undefined);
      reject(err);
    });
  });
}
