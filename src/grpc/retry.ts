/** Which gRPC failures a meshed client retries, within the destination's retry budget. */
export interface GrpcRetryOptions {
  /** gRPC status names (`UNAVAILABLE`, `RESOURCE_EXHAUSTED`...); default `['UNAVAILABLE']`. */
  on?: string[];
  /** Tries in all, the first included; default the destination's retry policy. */
  attempts?: number;
}
