/**
 * Gateway: an ingress gateway's listeners and edge settings, modelled on the
 * Kubernetes Gateway API `Gateway` (listeners: name, port, protocol, hostname,
 * tls, allowedRoutes). Routes attach to it with `parentRefs: [{ kind: Gateway,
 * name }]`. What the API leaves to each implementation (certificates as files on
 * the gateway's host, client-facing limits and timeouts that Envoy Gateway puts
 * in a ClientTrafficPolicy) is here as well, so one resource says all a gateway
 * process needs. Every default is a `.default()` below and nowhere else.
 */
import path from 'node:path';
import { z } from 'zod';
import { nameSchema } from '../names.js';
import { durationSchema } from '../duration-schema.js';
import { hostnameSchema } from '../hostname-schema.js';
import { API_VERSION, metadataSchema } from './metadata.js';

/**
 * A file on the gateway's host, read by the gateway process (the control plane never opens it).
 * Absolute, because a relative path would mean something else in each process that reads it.
 */
const filePathSchema = z
  .string()
  .min(1)
  .max(4096)
  .refine((p) => !p.includes('\0'), { error: 'must not contain NUL' })
  .refine((p) => path.posix.isAbsolute(p) || path.win32.isAbsolute(p), {
    error: 'must be an absolute path on the gateway host (a relative one would depend on where each gateway process starts)',
  });

/** TLS termination: one certificate chain and its key, PEM files. Listeners on one port with different hostnames are told apart by SNI. */
export const listenerTlsSchema = z.strictObject({
  /** PEM certificate chain, leaf first. */
  certificateFile: filePathSchema,
  /** PEM private key of the leaf. */
  keyFile: filePathSchema,
});

export const listenerSchema = z
  .strictObject({
    /** Unique in the gateway; a Route's parentRefs[].sectionName names it. */
    name: nameSchema,
    port: z.int().min(1).max(65535),
    protocol: z.enum(['HTTP', 'HTTPS']),
    /** Requests for this hostname only (exact or `*.` wildcard; the SNI name too over HTTPS); every hostname when absent. */
    hostname: hostnameSchema.optional(),
    /** Required with HTTPS, refused with HTTP. */
    tls: listenerTlsSchema.optional(),
    /** Which namespaces' Routes may attach: the gateway's own (`Same`, the Gateway API default) or `All`. */
    allowedRoutes: z.strictObject({ namespaces: z.strictObject({ from: z.enum(['Same', 'All']).default('Same') }).prefault({}) }).prefault({}),
  })
  .superRefine((l, ctx) => {
    if (l.protocol === 'HTTPS' && l.tls === undefined) ctx.addIssue({ code: 'custom', path: ['tls'], message: 'required when protocol is HTTPS: certificateFile and keyFile' });
    if (l.protocol === 'HTTP' && l.tls !== undefined) ctx.addIssue({ code: 'custom', path: ['tls'], message: 'only for protocol HTTPS: an HTTP listener does not terminate TLS' });
  });

const KIB = 1024;
const MIB = 1024 * KIB;

/** Limits and timeouts towards clients outside the mesh (nginx's and Envoy's knobs for the same things). */
export const edgeSchema = z
  .strictObject({
    /**
     * Proxies in front of the gateway whose X-Forwarded-For entries are believed: the client address is
     * the entry this many hops from the right (0: the peer's own address; Envoy's xff_num_trusted_hops).
     */
    trustedHops: z.int().min(0).max(16).default(0),
    /**
     * Whether a client's `x-hyphae-deadline-ms` is believed. Off by default: the clients of an ingress
     * gateway are outside the mesh, and Envoy likewise honours its `x-envoy-*` timeout headers only from
     * internal requests. Off, the field is dropped and the call's budget is the route's timeouts alone;
     * on (behind a front that speaks the mesh's deadline), the call gets no more than the client's budget.
     * Absent means off, and no default is filled in: a Gateway is stored with its defaults, and a field
     * stored unasked would make every gateway process older than it refuse the Gateway.
     */
    trustDeadlineHeader: z.boolean().optional(),
    /** Request line and headers together (Node's default maxHeaderSize; nginx and Envoy refuse past a similar size with 431). */
    maxRequestHeaderBytes: z
      .int()
      .min(1 * KIB)
      .max(256 * KIB)
      .default(16 * KIB),
    /** Request body (nginx's client_max_body_size default); 0 refuses any body. Past it: 413. */
    maxRequestBodyBytes: z
      .int()
      .min(0)
      .max(1024 * MIB)
      .default(1 * MIB),
    timeouts: z
      .strictObject({
        /** A client connection with no request in flight is closed after this (nginx keepalive_timeout); above a load balancer's usual 60 s, so the balancer closes first. */
        idle: durationSchema({ min: 1000, max: 3_600_000 }).default(75_000),
        /** From the first byte of a request to its last header (slowloris peers are cut here). */
        requestHeaders: durationSchema({ min: 100, max: 600_000 }).default(10_000),
        /** From the first byte of a request to its last body byte (nginx client_body_timeout; Node's requestTimeout). */
        request: durationSchema({ min: 100, max: 3_600_000 }).default(60_000),
      })
      .prefault({})
      .refine((t) => t.requestHeaders <= t.request, {
        path: ['requestHeaders'],
        error: 'must not exceed timeouts.request (the headers are part of the request)',
      }),
  })
  .prefault({});

export const gatewaySpecSchema = z
  .strictObject({
    listeners: z.array(listenerSchema).min(1).max(64),
    edge: edgeSchema,
  })
  .superRefine((spec, ctx) => {
    const names = new Map<string, number>();
    const byPortHost = new Map<string, number>();
    const protocolOfPort = new Map<number, { protocol: string; at: number }>();
    spec.listeners.forEach((l, i) => {
      const first = names.get(l.name);
      if (first !== undefined) ctx.addIssue({ code: 'custom', path: ['listeners', i, 'name'], message: `duplicate listener name "${l.name}" (also listeners[${first}].name)` });
      else names.set(l.name, i);

      const proto = protocolOfPort.get(l.port);
      if (proto !== undefined && proto.protocol !== l.protocol) {
        ctx.addIssue({
          code: 'custom',
          path: ['listeners', i, 'protocol'],
          message: `port ${l.port} is ${proto.protocol} on listeners[${proto.at}]: one port speaks one protocol`,
        });
      } else if (proto === undefined) protocolOfPort.set(l.port, { protocol: l.protocol, at: i });

      const key = `${l.port} ${l.hostname ?? ''}`;
      const same = byPortHost.get(key);
      if (same !== undefined) {
        ctx.addIssue({
          code: 'custom',
          path: ['listeners', i, 'hostname'],
          message: `listeners[${same}] already takes ${l.hostname === undefined ? 'every hostname' : `hostname ${l.hostname}`} on port ${l.port}: listeners sharing a port need distinct hostnames`,
        });
      } else byPortHost.set(key, i);
    });
  });

export const gatewayResourceSchema = z.strictObject({
  apiVersion: z.literal(API_VERSION),
  kind: z.literal('Gateway'),
  metadata: metadataSchema,
  spec: gatewaySpecSchema,
});

export type ListenerSpec = z.output<typeof listenerSchema>;
export type GatewayEdgeSpec = z.output<typeof edgeSchema>;
export type GatewaySpec = z.output<typeof gatewaySpecSchema>;
export type GatewayResource = z.output<typeof gatewayResourceSchema>;
