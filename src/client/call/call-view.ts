/**
 * What a filter of the application's own sees (createMesh({ filters })): a
 * narrow view of the call and of each try's answer. MeshCall and Attempt
 * have these members; a filter reads and annotates, and hands the very call
 * it was given to `next`.
 */
import type { Dispatcher } from 'undici';
import type { Verdict } from '../../core/classifier.js';

export interface CallView {
  /** The service called (the host in the URL). */
  readonly destination: { readonly name: string; readonly namespace: string };
  /** The request as it will be sent (method, path, headers, body): read it, do not change it in place. */
  readonly opts: Readonly<Dispatcher.DispatchOptions>;
  /** The request path without its query string. */
  readonly pathname: string;
  /** A request header by lower-case name (repeated values joined with ", "). */
  header(name: string): string | undefined;
  /** Send these headers (lower-case names) on every try from now on; the caller's options are never edited. */
  addHeaders(headers: Record<string, string>): void;
  /**
   * The endpoint of the latest try: set by the balancer for the try about to be sent. Above 'balance' it is
   * the previous try's (undefined before the first).
   */
  readonly endpoint: { readonly id: string } | undefined;
  /** Why the call was stopped (the application, its deadline), once it is. */
  readonly abortReason: Error | undefined;
}

export interface AttemptView {
  readonly statusCode: number;
  /** A response header by lower-case name. */
  header(name: string): string | undefined;
  /** The try's one verdict (core/classifier.ts): what failed, how far the request got, whose fault it was. */
  readonly verdict: Verdict;
  readonly endpoint: { readonly id: string };
}

/**
 * A filter of the application's own: a function of the next handler, as the
 * mesh's layers are. Generic, so it hands on the call it was given and
 * returns the answer it got (or throws).
 */
export type MeshFilter = <C extends CallView, A extends AttemptView>(next: (call: C) => Promise<A>) => (call: C) => Promise<A>;

/** The stack's layers a filter can be placed against, outermost first (docs/architecture.md has why each sits where it does). */
export const FILTER_ROLES = ['route', 'deadline', 'limit', 'retry', 'per-try-timeout', 'balance', 'outlier', 'transport'] as const;
export type FilterRole = (typeof FILTER_ROLES)[number];

/** Where a filter goes: right before (outside) or right after (inside) one role; exactly one of the two. */
export type PlacedFilter = { before: FilterRole; after?: undefined; filter: MeshFilter } | { after: Exclude<FilterRole, 'transport'>; before?: undefined; filter: MeshFilter };
