/**
 * The mesh's grpc-js client interceptor (meshGrpcClient puts it in the
 * client's options): per call, the deadline (its own, or the inbound HTTP or
 * gRPC request's when earlier, sent by grpc-js as `grpc-timeout`), retries on
 * gRPC status within the destination's retry budget, the CLIENT span and
 * `rpc.client.duration`, the trace context in metadata. See client-call.ts.
 */
import { InterceptingCall, type Interceptor, type InterceptorOptions, type NextCall } from '@grpc/grpc-js';
import { currentRequestContext } from '../resilience/request-context.js';
import type { AdapterHost } from '../mesh/adapter-host.js';
import { MeshClientCall } from './client-call.js';
import { ClientPolicy } from './client-policy.js';
import type { GrpcRetryOptions } from './retry.js';

export function clientInterceptors(host: AdapterHost, dest: { namespace: string; service: string }, retry?: GrpcRetryOptions): Interceptor[] {
  const policy = new ClientPolicy(host, dest, retry);
  return [(options: InterceptorOptions, next: NextCall) => intercept(policy, options, next)];
}

function intercept(policy: ClientPolicy, options: InterceptorOptions, next: NextCall): InterceptingCall {
  let deadline = toEpochMs(options.deadline);
  const inbound = currentRequestContext();
  if (inbound !== undefined && inbound.deadline !== Infinity) {
    const at = Date.now() + inbound.remaining();
    if (at < deadline) {
      deadline = at;
      // A copy: the caller's options object is theirs (grpc-js hands the same one to every interceptor).
      options = { ...options, deadline: at };
    }
  }
  // Only unary and server-streaming calls send one message, which can be kept and sent again.
  const attempts = options.method_definition.requestStream ? 1 : policy.attempts();
  if (attempts > 1) policy.deposit();
  return new InterceptingCall(new MeshClientCall(policy, options, next, deadline, attempts, inbound));
}

/** grpc-js's Deadline (a Date, epoch ms, or absent / Infinity) as epoch ms. */
function toEpochMs(d: InterceptorOptions['deadline']): number {
  if (d === undefined || d === null) return Infinity;
  return typeof d === 'number' ? d : d.getTime();
}
