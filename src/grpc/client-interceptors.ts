import type { Interceptor } from '@grpc/grpc-js';
import type { AdapterHost } from '../mesh/adapter-host.js';
import type { GrpcRetryOptions } from './retry.js';

// PLACEHOLDER until branch s10-grpc-policy lands (deadline, retry, telemetry interceptors): the lead replaces it at merge.
export function clientInterceptors(_host: AdapterHost, _dest: { namespace: string; service: string }, _retry?: GrpcRetryOptions): Interceptor[] {
  return [];
}
