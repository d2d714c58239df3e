/**
 * How a retry of a meshed gRPC call tells the mesh's picker (picker.ts) which
 * endpoints earlier attempts of the call failed on, so that it picks another
 * while it has a choice: the rule an HTTP retry follows (LogicalState.avoids).
 *
 * grpc-js hands a picker nothing of the call but its metadata (PickArgs'
 * extraPickInfo is the channel's, not the call's). So the interceptor
 * (client-call.ts) writes the failed attempts' peers (getPeer(): the
 * subchannel's address) under a private key of the retry's metadata, and the
 * picker reads AND removes it. What the picker is handed is the clone of the
 * call's metadata that goes on the wire, and a pick redone (a queued call, a
 * subchannel gone from READY) gets a fresh clone, key included: removed there,
 * the key never leaves the process.
 *
 * A caller's own metadata could carry the key too. It is read defensively: at
 * most MAX_FAILED_ENDPOINTS string values, each looked up as the exact address
 * of one of the channel's subchannels; anything else is ignored. The most an
 * application can do with it is make its own call avoid endpoints, and never
 * fail for it: with every endpoint avoided the pick is made as without it.
 */
import type { Metadata } from '@grpc/grpc-js';

export const FAILED_ENDPOINTS_KEY = 'x-hyphae-failed-endpoints';

/** Addresses read from the key, and kept by a call; more than the largest retry policy (10 attempts) needs. */
export const MAX_FAILED_ENDPOINTS = 16;

/**
 * `host:port` or `[v6]:port`, in ASCII (all metadata may carry: grpc-js's Metadata.add throws on anything
 * else): what getPeer() says once an attempt reached a subchannel. Before that it says the channel's target,
 * or `unknown`, which are no address.
 */
const ADDRESS = /^(?:\[[0-9a-fA-F:.]{2,45}\]|[A-Za-z0-9._~%-]{1,253}):\d{1,5}$/;

/** The attempt's endpoint as the retry hooks and the failed list name it (`address:port`), or undefined when it reached none. */
export function endpointOfPeer(peer: string): string | undefined {
  return ADDRESS.test(peer) ? peer : undefined;
}

/** Adds `endpoint` (endpointOfPeer's) to a call's failed endpoints, kept in `list`, once and up to the limit; returns the list. */
export function noteFailedPeer(list: string[] | undefined, endpoint: string | undefined): string[] | undefined {
  if (endpoint === undefined) return list;
  if (list === undefined) return [endpoint];
  if (list.length < MAX_FAILED_ENDPOINTS && !list.includes(endpoint)) list.push(endpoint);
  return list;
}

/** The metadata of a retry: the failed endpoints replace whatever the caller's metadata said under the key. */
export function writeFailedEndpoints(metadata: Metadata, peers: readonly string[]): void {
  metadata.remove(FAILED_ENDPOINTS_KEY);
  for (const peer of peers) metadata.add(FAILED_ENDPOINTS_KEY, peer);
}

/**
 * The picker's side: the endpoints `metadata` names, by their subchannel's address in `known`, and the key
 * removed; undefined when it names none. A first attempt costs one Map lookup.
 */
export function takeFailedEndpoints<E>(metadata: Metadata, known: ReadonlyMap<string, E>): E[] | undefined {
  const values = metadata.get(FAILED_ENDPOINTS_KEY);
  if (values.length === 0) return undefined;
  metadata.remove(FAILED_ENDPOINTS_KEY);
  let failed: E[] | undefined;
  const n = Math.min(values.length, MAX_FAILED_ENDPOINTS);
  for (let i = 0; i < n; i++) {
    const v = values[i];
    const ep = typeof v === 'string' ? known.get(v) : undefined;
    if (ep === undefined) continue;
    if (failed === undefined) failed = [ep];
    else if (!failed.includes(ep)) failed.push(ep);
  }
  return failed;
}
