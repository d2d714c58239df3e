/**
 * The control plane's HTTP/JSON wire protocol (under /v1), shared by the
 * control plane and the clients so that both sides parse the same shapes.
 */
import { z } from 'zod';
import { instanceSchema } from './instance.js';
import { nameSchema } from './names.js';
import { serviceSpecSchema } from './resources.js';

export const API_PREFIX = '/v1';

/** The watch stream (Server-Sent Events). */
export const WATCH_PATH = `${API_PREFIX}/watch`;

/**
 * The state of one service, pushed on the watch stream whenever it changes.
 * Each event carries the whole service (a "state of the world" per service, as
 * xDS SotW does), so a client never has to replay deltas after a reconnect.
 */
export const serviceSnapshotSchema = z.strictObject({
  name: nameSchema,
  namespace: nameSchema,
  /** Monotonic per control plane: the store revision at which this service last changed. */
  version: z.int().nonnegative(),
  /** False when neither a Service resource nor any instance has ever been seen. */
  exists: z.boolean(),
  instances: z.array(instanceSchema),
  config: serviceSpecSchema.nullable(),
});
export type ServiceSnapshot = z.output<typeof serviceSnapshotSchema>;

export const watchHelloSchema = z.strictObject({
  streamId: z.string(),
  revision: z.int().nonnegative(),
  heartbeatMs: z.int().positive(),
});
export type WatchHello = z.output<typeof watchHelloSchema>;

/** POST /v1/watch/:streamId — change what an open stream follows. */
export const watchUpdateSchema = z.strictObject({
  add: z.array(z.string().min(1).max(127)).max(1000).default([]),
  remove: z.array(z.string().min(1).max(127)).max(1000).default([]),
});
export type WatchUpdate = z.input<typeof watchUpdateSchema>;

/** Services are named `<name>` (in the default namespace) or `<namespace>/<name>` on the wire. */
export function serviceRef(namespace: string, name: string): string {
  return `${namespace}/${name}`;
}

export function parseServiceRef(ref: string, defaultNamespace: string): { namespace: string; name: string } | undefined {
  const slash = ref.indexOf('/');
  const namespace = slash < 0 ? defaultNamespace : ref.slice(0, slash);
  const name = slash < 0 ? ref : ref.slice(slash + 1);
  if (!nameSchema.safeParse(name).success || !nameSchema.safeParse(namespace).success) return undefined;
  return { namespace, name };
}

/** Body of every 4xx/5xx answer from the control plane. */
export interface ApiErrorBody {
  error: {
    code: string;
    message: string;
    issues?: { path: string; message: string }[];
  };
}
