/**
 * wrapServer: the same http.Server, with the mesh around it. On every
 * 'listening' it registers the instance; close() becomes a graceful drain; the
 * inbound stack runs before the application's own 'request' listeners, which
 * stay exactly as the user wrote them.
 */
import type http from 'node:http';
import type { Http2SecureServer, Http2Server, IncomingHttpHeaders, ServerHttp2Stream } from 'node:http2';
import type { AddressInfo } from 'node:net';
import { ErrorCode, MeshError } from '../core/errors.js';
import { labelsSchema, MAX_LABELS } from '../config/labels.js';
import { checkNonNegative } from '../core/number-options.js';
import { PROTOCOL_HINT_H2, PROTOCOL_HINT_LABEL } from '../config/protocol-hint.js';
import { parseOrThrow } from '../config/validate.js';
import type { Logger } from '../core/logger.js';
import type { ResilienceHooks } from '../resilience/hooks.js';
import { deadlineIntake, takesDeadlineItself } from './deadline-intake.js';
import { LoadShedder } from './load-shedding.js';
import { advertiseAddress } from './advertise-address.js';
import { InboundAuthorization, POLICY_WAIT_MS, type AuthzStats } from './authz/authorization.js';
import { DEFAULT_SEMICOLONS, SEMICOLON_MODES, type SemicolonMode } from './authz/normalize-path.js';
import { Drainer } from './drain.js';
import { isHttp2Request, isHttp2Server } from './h2.js';
import { H2Sessions, type H2SessionStats } from './h2-sessions.js';
import { attachMtlsFront, type InboundTls } from './mtls-front.js';
import type { PolicySource } from './policy-source.js';
import type { RegisteredInstance, ServerRegistrar } from './registrar.js';
import { buildServerStack, buildSideDoors, buildStreamGuard, SIDE_DOORS } from './stack.js';
import { instrumentedDispatch } from './instrumented-emit.js';
import { applyListenerLimits, DEFAULT_KEEP_ALIVE_TIMEOUT_MS, LISTENER_LIMIT_OPTIONS, resolveListenerLimits, type ListenerLimitOptions } from './listener-limits.js';
import type { CapStats } from '../core/listener-guard.js';
import type { MeshTelemetry } from '../telemetry/mesh-telemetry.js';
import { tapLayer, type TapPoint } from './tap.js';

export interface WrapServerOptions {
  /** Labels of this instance (version, zone...), merged over the mesh's labels. */
  labels?: Record<string, string>;
  weight?: number;
  /** The address clients should dial, when the bound address is not it (wildcard binds, NAT). */
  advertiseAddress?: string;
  /** Keep serving this long after deregistering, so every client hears of it first. */
  drainDelayMs?: number;
  /** close() ends every connection by this deadline. */
  gracePeriodMs?: number;
  /** false: serve through the mesh without registering (a client-only process that also serves health). */
  register?: boolean;
  /**
   * false: no mesh mTLS on this server even when the mesh has it: a listener facing clients outside the mesh
   * (an ingress gateway), which serves plain HTTP or its own TLS (an https.Server). Default true. Read by
   * Mesh.wrapServer; every other inbound layer (normalization, identity stripping, limits, drain) stays.
   */
  mtls?: boolean;
  /** Load shedding: beyond this many requests in progress, answer 503 with Retry-After before the handler runs; 0 or absent: no limit. */
  maxConcurrent?: number;
  /** Load shedding: while the event loop's p99 delay (sampled every 500 ms) is above this many ms, shed new requests; 0 or absent: off. */
  eventLoopDelayMs?: number;
  /** The Retry-After (seconds) of a shed response; default 1. */
  retryAfterSeconds?: number;
  /** A deadline (ms) for requests whose caller sends none (no `x-hyphae-deadline-ms`); absent: none. */
  defaultTimeoutMs?: number;
  /** The longest budget (ms) taken from a caller; a longer one is cut to this. */
  maxTimeoutMs?: number;
  /**
   * `;` in request paths (path parameters): 'strip' cuts the path at the first one, 'reject' answers 400,
   * 'keep' leaves it as an ordinary character (authz/normalize-path.ts, SemicolonMode). Default: the mesh's
   * `server.pathSemicolons`, else 'strip'.
   */
  pathSemicolons?: SemicolonMode;
  /**
   * Connections open at once; more are closed at accept, with one warning when reached and one info line
   * when cleared. Default: the mesh's `server.maxConnections`, else 4096 lowered below the open-file limit. 0: no cap.
   */
  maxConnections?: number;
  /** With mTLS: a connection not through its TLS handshake (or, plaintext, its first byte) this long after accept is closed. Default 5000; 0: none. */
  tlsHandshakeTimeoutMs?: number;
  /** 408 and close when a request's headers are not in this long after its first byte (a connection's first request: after the hand-over to HTTP, so a silent peer too). Default 10000, unless the server was created with its own; 0: none. */
  headersTimeoutMs?: number;
  /** The same for the whole request, body included. Default 30000, unless the server was created with its own; 0: none. */
  requestTimeoutMs?: number;
  /** A connection with answer bytes waiting, none of which the peer took for this long, is closed (nginx's send_timeout; a handler that is only slow is never cut by it). Default 60000; 0: none. */
  sendTimeoutMs?: number;
  /**
   * HTTP/2 servers: the streams a session may have open at once (SETTINGS_MAX_CONCURRENT_STREAMS; nghttp2
   * ends the session of a peer that opens more). Default: the server's own `settings.maxConcurrentStreams`, else 100.
   */
  maxConcurrentStreams?: number;
}

/** What wrapServer takes: an http.Server (or https.Server), or an HTTP/2 server, plaintext (h2c) or secure. */
export type WrappableServer = http.Server | Http2Server | Http2SecureServer;

export interface WrapServerDeps {
  /** Resolved lazily: the default mesh is created on first use. */
  registrar: () => Promise<ServerRegistrar | undefined>;
  logger: Logger;
  defaults: {
    labels: Record<string, string>;
    drainDelayMs: number;
    gracePeriodMs: number;
    advertiseAddress?: string | undefined;
    pathSemicolons?: SemicolonMode | undefined;
    /** The mesh's listener limits (`server.maxConnections`...); wrapServer's options win. */
    listener?: ListenerLimitOptions | undefined;
  };
  /** mTLS for inbound connections (resolved lazily, like the registrar); absent: plain HTTP as the server was. */
  tls?: () => Promise<InboundTls | undefined>;
  /** The workload's AuthorizationPolicies (the mesh's watch of its own service); none when absent. */
  policies?: PolicySource | undefined;
  /** Told about shed requests (onShed). */
  hooks?: ResilienceHooks | undefined;
  // ---- telemetry (issue 6)
  /** The mesh's telemetry: the inbound layer joins the stack, denials are counted. Absent: no telemetry. */
  telemetry?: MeshTelemetry | undefined;
  /** The mesh's tap point (`hyphae tap`, tap.ts); absent: no tap layer. */
  tap?: TapPoint | undefined;
}

export interface WrappedServerState {
  /** Resolves with the instance once registered after the next (or latest) 'listening'; rejects if registration failed. */
  readonly registered: Promise<RegisteredInstance | undefined>;
  drainer: Drainer;
  /** Authorization counters (denials, refused targets...), for telemetry. */
  readonly authz: AuthzStats;
  /** Load shedding, when maxConcurrent or eventLoopDelayMs is set (its counters: inflight, shedCount). */
  readonly shedder: LoadShedder | undefined;
  /** The connection cap (undefined with maxConnections 0). */
  readonly connectionCap: CapStats | undefined;
  /** HTTP/2 servers: their sessions' counters (h2-sessions.ts); undefined for an http.Server. */
  readonly h2: H2SessionStats | undefined;
}

/** A promise made before the event that settles it, so `registered` can be awaited right after listen(). */
class Deferred<T> {
  readonly promise: Promise<T>;
  resolve!: (v: T) => void;
  reject!: (e: unknown) => void;
  settled = false;
  constructor() {
    this.promise = new Promise<T>((res, rej) => {
      this.resolve = (v) => {
        this.settled = true;
        res(v);
      };
      this.reject = (e) => {
        this.settled = true;
        rej(e);
      };
    });
    // Observed through `registered`; a failure is also logged, so an unobserved one is not lost.
    this.promise.catch(() => {});
  }
}

const states = new WeakMap<WrappableServer, WrappedServerState>();

export function wrappedState(server: WrappableServer): WrappedServerState | undefined {
  return states.get(server);
}

/**
 * An HTTP/2 server is typed as an http.Server below: what wrapServer touches of either (listen events,
 * address(), close(), emit, maxConnections, the timeouts) they share; where they differ (requests, sessions,
 * drain) the code asks isHttp2Server.
 */
export function wrapServer<S extends WrappableServer>(wrapped: S, deps: WrapServerDeps, options: WrapServerOptions = {}): S {
  if (states.has(wrapped)) return wrapped;
  // Before anything is applied to the server: a bad option throws with the server untouched.
  checkNonNegative('wrapServer', options, NUMERIC_OPTIONS);
  const server = wrapped as unknown as http.Server;
  const h2 = isHttp2Server(wrapped);
  const { logger, defaults } = deps;
  // Checked now, merged as they will be registered: labels the control plane would refuse fail here, not at listen().
  const own = parseOrThrow(labelsSchema, { ...defaults.labels, ...options.labels }, "wrapServer labels (the mesh's merged with the server's)", ErrorCode.INVALID_OPTIONS);
  // An HTTP/2 server says so at registration, so that callers shape their first pool for it (config/protocol-hint.ts);
  // a hint the application set itself stands, and one label over the limit is no reason to refuse the server.
  const labels = h2 && own[PROTOCOL_HINT_LABEL] === undefined && Object.keys(own).length < MAX_LABELS ? { ...own, [PROTOCOL_HINT_LABEL]: PROTOCOL_HINT_H2 } : own;
  let registration = new Deferred<RegisteredInstance | undefined>();
  /** Gives up a registration still under way (the control plane unreachable) when the server drains. */
  let registering: AbortController | undefined;

  const deregister = async () => {
    // A registration still retrying must not register a server that is going away.
    if (!registration.settled) registering?.abort();
    // Drain only starts on a listening server, so a registration is settled or under way: wait for it.
    const current = await registration.promise.catch(() => undefined);
    await current?.deregister();
  };
  const originalClose = server.close.bind(server);
  // Every listener, mTLS or not: timeouts that close slow peers, and a cap on connections.
  const limits = resolveListenerLimits(server, options, defaults.listener ?? {});
  const connectionCap = applyListenerLimits(server, limits, logger);
  const sessions = h2
    ? new H2Sessions(wrapped, {
        headersTimeoutMs: limits.headersTimeoutMs,
        requestTimeoutMs: limits.requestTimeoutMs,
        idleTimeoutMs: DEFAULT_KEEP_ALIVE_TIMEOUT_MS,
        maxConcurrentStreams: options.maxConcurrentStreams,
      })
    : undefined;
  const drainer = new Drainer(
    server,
    () => originalClose(),
    {
      drainDelayMs: options.drainDelayMs ?? defaults.drainDelayMs,
      gracePeriodMs: options.gracePeriodMs ?? defaults.gracePeriodMs,
    },
    deregister,
    logger,
    sessions,
  );
  // Authorization: policies from deps.policies, enforced by the inbound stack (normalize + authz layers).
  const authz = new InboundAuthorization(deps.policies, logger, POLICY_WAIT_MS, semicolonsOf(options, defaults.pathSemicolons));
  // Load shedding only when asked for: a server without limits has no such layer at all.
  const shedder = shedderFor(options, deps.hooks);
  // A tap names the instance by its registered id (what `hyphae describe` shows), else by the socket's local address.
  let instanceId: string | undefined;
  const optional = {
    telemetry: deps.telemetry,
    tap: deps.tap && tapLayer(deps.tap, (req) => instanceId ?? `${req.socket.localAddress}:${req.socket.localPort}`),
    shedding: shedder?.filter,
    deadline: takesDeadlineItself(server)
      ? undefined
      : deadlineIntake({
          ...(options.defaultTimeoutMs !== undefined ? { defaultTimeoutMs: options.defaultTimeoutMs } : {}),
          ...(options.maxTimeoutMs !== undefined ? { maxTimeoutMs: options.maxTimeoutMs } : {}),
        }),
  };
  const state: WrappedServerState = {
    get registered() {
      return registration.promise;
    },
    drainer,
    authz: authz.stats,
    shedder,
    connectionCap,
    h2: sessions?.stats,
  };
  states.set(wrapped, state);

  server.on('listening', () => {
    shedder?.start();
    authz.open();
    if (registration.settled) registration = new Deferred();
    const current = registration;
    const addr = server.address();
    if (options.register === false) return current.resolve(undefined);
    if (addr === null || typeof addr === 'string') {
      logger.warn('hyphae: a server on a pipe or socket path is not registered', { address: addr });
      return current.resolve(undefined);
    }
    registering = new AbortController();
    const signal = registering.signal;
    register(addr, signal).then(
      (instance) => {
        instanceId = instance?.id;
        current.resolve(instance);
      },
      (err: unknown) => {
        if (!signal.aborted) logger.error('hyphae: registration failed', { error: String(err) });
        current.reject(err);
      },
    );
  });
  server.on('close', () => {
    registration = new Deferred();
    // The event-loop monitor and its timer, and the policy subscription, live as long as the server listens.
    void shedder?.close();
    authz.close();
  });

  const register = async (addr: AddressInfo, signal: AbortSignal): Promise<RegisteredInstance | undefined> => {
    const registrar = await deps.registrar();
    if (!registrar) return undefined;
    return registrar.register(
      {
        address: advertiseAddress(addr.address, options.advertiseAddress ?? defaults.advertiseAddress),
        port: addr.port,
        labels,
        weight: options.weight ?? 1,
      },
      signal,
    );
  };

  const plain: http.Server = server;
  plain.close = function close(callback?: (err?: Error) => void) {
    if (!server.listening) return originalClose(callback);
    if (callback) server.once('close', () => callback());
    void drainer.drain();
    return server;
  };

  const originalEmit = server.emit;
  // Telemetry: denials counted; the stack runs inside an HTTP instrumentation's patched emit
  // (instrumentation-http's SERVER span exists before ours, so ours enriches it instead of doubling it).
  const telemetry = deps.telemetry;
  if (telemetry) authz.onDenied = (d) => telemetry.recordDenied(d.policy === undefined ? 'no-allow-match' : 'deny-policy', d.policy);
  const { dispatch, app } = instrumentedDispatch(server, (app) => buildServerStack(drainer, app, authz, optional));
  // Authorization: Expect, Upgrade and CONNECT requests reach the app through other events; check them too.
  const sideDoor = buildSideDoors(drainer, authz, (event, args) => (originalEmit as (this: http.Server, event: string, ...args: unknown[]) => boolean).call(server, event, ...args), optional, h2);
  // Intercepting emit (not the listener list) also covers 'request' listeners added after wrapServer.
  // Every event of the server comes through here, one 'request' per request: named parameters and
  // `arguments` passed on as is, so no event pays for an array of its arguments (a rest parameter's).
  plain.emit = function emit(this: http.Server, event: string | symbol, a?: unknown, b?: unknown): boolean {
    if (event === 'request') return dispatch(a as http.IncomingMessage, b as http.ServerResponse);
    // eslint-disable-next-line prefer-rest-params
    if (SIDE_DOORS.has(event)) return sideDoor(event as string, Array.prototype.slice.call(arguments, 1));
    // eslint-disable-next-line prefer-rest-params
    return Reflect.apply(originalEmit, this, arguments) as boolean;
  };
  if (h2) {
    // The compat API's requests (Http2ServerRequest/Response) take the HTTP/2 stack; an allowHTTP1 server's
    // HTTP/1.1 requests the same one as an http.Server's. A separate emit, so that an http.Server's pays nothing.
    const dispatchH2 = buildServerStack(drainer, app, authz, optional, true);
    // The core API: streams are guarded only when the application listens for them itself. Node's compat
    // layer listens for 'stream' too (its onServerStream, which makes the 'request'), and its requests get
    // the whole stack there; should that name ever change, they are checked twice, never not at all.
    const guardStream = buildStreamGuard(drainer, authz);
    const isOwn = (l: unknown) => typeof l === 'function' && l.name !== 'onServerStream';
    let coreListeners = server.listeners('stream').filter(isOwn).length;
    server.on('newListener', (event: string | symbol, l: unknown) => {
      if (event === 'stream' && isOwn(l)) coreListeners++;
    });
    server.on('removeListener', (event: string | symbol, l: unknown) => {
      if (event === 'stream' && isOwn(l)) coreListeners--;
    });
    plain.emit = function emit(this: http.Server, event: string | symbol, a?: unknown, b?: unknown, _flags?: unknown, d?: unknown): boolean {
      if (event === 'request') {
        if (isHttp2Request(a as http.IncomingMessage)) dispatchH2(a as http.IncomingMessage, b as http.ServerResponse);
        else dispatch(a as http.IncomingMessage, b as http.ServerResponse);
        return true;
      }
      if (event === 'stream' && coreListeners > 0 && !guardStream(a as ServerHttp2Stream, b as IncomingHttpHeaders, (d as string[] | undefined) ?? [])) return true;
      // eslint-disable-next-line prefer-rest-params
      if (SIDE_DOORS.has(event)) return sideDoor(event as string, Array.prototype.slice.call(arguments, 1));
      // eslint-disable-next-line prefer-rest-params
      return Reflect.apply(originalEmit, this, arguments) as boolean;
    };
  }
  // Outside the stack: it decides which connections HTTP sees at all, before any request exists.
  const front = deps.tls && attachMtlsFront(wrapped, deps.tls, logger, limits.tlsHandshakeTimeoutMs);
  if (sessions && front) sessions.destroyPending = () => front.destroyPending();

  return wrapped;
}

function shedderFor(options: WrapServerOptions, hooks: ResilienceHooks | undefined): LoadShedder | undefined {
  if (!(options.maxConcurrent! > 0) && !(options.eventLoopDelayMs! > 0)) return undefined;
  return new LoadShedder({
    ...(options.maxConcurrent !== undefined ? { maxConcurrent: options.maxConcurrent } : {}),
    ...(options.eventLoopDelayMs !== undefined ? { eventLoopDelayMs: options.eventLoopDelayMs } : {}),
    ...(options.retryAfterSeconds !== undefined ? { retryAfterSeconds: options.retryAfterSeconds } : {}),
    ...(hooks?.onShed ? { onShed: (reason: 'concurrency' | 'event-loop') => hooks.onShed!({ reason }) } : {}),
  });
}

function semicolonsOf(options: WrapServerOptions, fallback: SemicolonMode | undefined): SemicolonMode {
  const mode = options.pathSemicolons ?? fallback ?? DEFAULT_SEMICOLONS;
  if (!SEMICOLON_MODES.includes(mode)) {
    throw new MeshError(ErrorCode.INVALID_OPTIONS, `wrapServer options: pathSemicolons must be one of ${SEMICOLON_MODES.join(', ')} (got ${String(mode)})`, {
      details: { options: ['pathSemicolons'] },
    });
  }
  return mode;
}

const NUMERIC_OPTIONS = ['maxConcurrent', 'eventLoopDelayMs', 'retryAfterSeconds', 'defaultTimeoutMs', 'maxTimeoutMs', 'maxConcurrentStreams', ...LISTENER_LIMIT_OPTIONS] as const;
