/**
 * `hyphae gateway` as a library function (issue 16): an ingress gateway that
 * takes traffic from outside the mesh and sends it to mesh services with its
 * own SPIFFE identity (`.../ns/<ns>/sa/<service>`), so AuthorizationPolicies
 * behind it can name it while STRICT mTLS stays on inside.
 *
 * Built from the library's stacks (DESIGN, "The edges of the mesh"): each
 * port is a wrapped server (port-listener.ts) whose handler forwards through
 * the mesh's client stack (edge/forward-to-mesh.ts) with the Gateway's Routes
 * compiled by the client's compileRoutes (routing.ts). Everything follows the
 * Gateway resource live: listeners are opened, closed or re-made when its
 * ports, protocols or header limit change, certificates re-read when their
 * files change, routes recompiled on every snapshot.
 */
import type http from 'node:http';
import type { AddressInfo } from 'node:net';
import type { TLSSocket } from 'node:tls';
import { ErrorCode } from '../core/errors.js';
import { defaultLogger, type Logger } from '../core/logger.js';
import type { GatewaySnapshot } from '../config/wire.js';
import type { GatewaySpec } from '../config/resources/gateway.js';
import { forwardToMesh, REPLACED } from '../edge/forward-to-mesh.js';
import { sendEdgeError } from '../edge/error-response.js';
import { createMesh, type Mesh } from '../mesh/mesh.js';
import type { GatewayConfigWatch } from '../discovery/gateway-config.js';
import { IDENTITY_HEADERS } from '../server/peer.js';
import { incomingTraceHeaders } from '../telemetry/server-request.js';
import { W3C_FIELDS } from '../telemetry/w3c.js';
import { createAdminListener } from './admin-listener.js';
import { limitBody } from './body-limit.js';
import { FORWARDED_FIELDS, forwardedHeaders } from './forwarded.js';
import { resolveGatewayOptions, type GatewayOptions, type ResolvedGatewayOptions } from './options.js';
import { PortListener, type Protocol } from './port-listener.js';
import { GatewayRouting } from './routing.js';
import { TlsContexts } from './tls-contexts.js';
import type { HostPort } from '../proxy/options.js';

/** Never forwarded as the client sent them: set by the gateway (forwarding headers) or by the mesh (identity, deadline, Host). */
const DROP: ReadonlySet<string> = new Set([...REPLACED, ...FORWARDED_FIELDS, ...IDENTITY_HEADERS]);
/**
 * With no SDK, the W3C fields too: the gateway sends the ones the mesh checked on the way in (a fresh
 * traceparent for a missing or invalid one, a tracestate only if valid), never the client's raw ones.
 */
const DROP_TRACE: ReadonlySet<string> = new Set([...DROP, ...W3C_FIELDS]);

export interface RunningGateway {
  readonly mesh: Mesh;
  /** Where each listener of the Gateway is bound, by the port the Gateway gives it. */
  readonly addresses: ReadonlyMap<number, HostPort>;
  /** The admin listener (/healthz, /readyz); undefined with `admin: false`. */
  readonly adminAddress: HostPort | undefined;
  /** Resolves once the Gateway's configuration arrived and its listeners are bound. */
  readonly ready: Promise<void>;
  /** Resolves once the listeners match the latest snapshot (after a change applied with the control plane). */
  settled(): Promise<void>;
  /** /readyz fails, drainDelayMs later the listeners stop accepting and drain, then the mesh closes. */
  close(): Promise<void>;
}

class Gateway implements RunningGateway {
  readonly mesh: Mesh;
  readonly #o: ResolvedGatewayOptions;
  readonly #logger: Logger;
  readonly #ports = new Map<number, PortListener>();
  readonly #tls: TlsContexts;
  #routing: GatewayRouting | undefined;
  #spec: GatewaySpec | undefined;
  #watch: GatewayConfigWatch | undefined;
  #admin: http.Server | undefined;
  #applying: Promise<void> = Promise.resolve();
  #bound = false;
  #draining = false;
  #closing: Promise<void> | undefined;
  #certTimer: NodeJS.Timeout | undefined;
  readonly ready: Promise<void>;
  #resolveReady!: () => void;

  constructor(mesh: Mesh, o: ResolvedGatewayOptions) {
    this.mesh = mesh;
    this.#o = o;
    this.#logger = o.logger ?? mesh.logger ?? defaultLogger;
    this.#tls = new TlsContexts(this.#logger);
    this.ready = new Promise((resolve) => (this.#resolveReady = resolve));
  }

  get addresses(): ReadonlyMap<number, HostPort> {
    const out = new Map<number, HostPort>();
    for (const [port, l] of this.#ports) {
      const a = l.address;
      if (a) out.set(port, { host: a.address, port: a.port });
    }
    return out;
  }

  get adminAddress(): HostPort | undefined {
    const a = this.#admin?.address() as AddressInfo | null | undefined;
    return a ? { host: a.address, port: a.port } : undefined;
  }

  notReady(): string | undefined {
    if (this.#draining) return 'draining';
    if (this.#spec === undefined) return 'no Gateway configuration yet';
    if (!this.#bound) return 'listeners not bound';
    return undefined;
  }

  async start(): Promise<void> {
    if (this.#o.admin !== false) {
      const admin = createAdminListener(this, this.#logger);
      await new Promise<void>((resolve, reject) => {
        admin.once('error', reject);
        admin.listen((this.#o.admin as HostPort).port, (this.#o.admin as HostPort).host, () => resolve());
      });
      this.#admin = admin;
    }
    const edge = await this.mesh.edgeRoutes();
    const watch = edge.watchGateway(this.#o.namespace, this.#o.name);
    this.#watch = watch;
    watch.onChange((s) => this.#enqueue(s));
    if (watch.current) this.#enqueue(watch.current);
    this.#certTimer = setInterval(() => this.#refreshCertificates(), Math.max(100, this.#o.certificateCheckMs));
    this.#certTimer.unref();
  }

  settled(): Promise<void> {
    return this.#applying;
  }

  #enqueue(s: GatewaySnapshot): void {
    // One snapshot at a time, in order: listeners open and close asynchronously.
    this.#applying = this.#applying.then(() => this.#apply(s)).catch((err: unknown) => this.#logger.error('hyphae gateway: applying the Gateway failed', { error: String(err) }));
  }

  async #apply(s: GatewaySnapshot): Promise<void> {
    if (this.#closing) return;
    if (!s.exists || s.config === null) {
      this.#logger.warn('hyphae gateway: the Gateway resource does not exist (yet); no listener is open', { gateway: `${s.namespace}/${s.name}` });
      this.#spec = undefined;
      this.#routing = undefined;
      this.#bound = false;
      await Promise.all([...this.#ports.values()].map((l) => l.close()));
      this.#ports.clear();
      return;
    }
    const spec = s.config;
    const edge = await this.mesh.edgeRoutes();
    const routing = new GatewayRouting({ namespace: this.#o.namespace, name: this.#o.name }, spec, s.routes, edge);
    this.#spec = spec;
    this.#routing = routing;
    this.#tls.retain(spec.listeners);
    this.#checkCertificateFiles(spec);
    await this.#reconcile(spec);
    this.#bound = true;
    this.#logger.info('hyphae gateway: configuration applied', { version: s.version, listeners: spec.listeners.length, routes: s.routes.length });
    this.#resolveReady();
  }

  /** Ports opened, closed or re-made to match the spec; timeouts and certificates of the others updated in place. */
  async #reconcile(spec: GatewaySpec): Promise<void> {
    const wanted = new Map<number, Protocol>();
    for (const l of spec.listeners) wanted.set(l.port, l.protocol);
    const stale: PortListener[] = [];
    for (const [port, l] of this.#ports) {
      if (wanted.get(port) !== l.protocol || l.maxHeaderSize !== spec.edge.maxRequestHeaderBytes) {
        stale.push(l);
        this.#ports.delete(port);
      }
    }
    // Closed first: a port re-made with another protocol binds the same number again.
    await Promise.all(stale.map((l) => l.close()));
    for (const [port, protocol] of wanted) {
      const existing = this.#ports.get(port);
      if (existing) {
        existing.applyEdge(spec.edge);
        existing.setDefaultCertificate(this.#certificate(port, undefined));
        continue;
      }
      const l = new PortListener(
        this.mesh,
        port,
        protocol,
        spec.edge,
        this.#o.gracePeriodMs,
        (req, res, p, proto) => this.#handle(req, res, p, proto),
        (servername) => this.#certificate(port, servername),
      );
      const bind = this.#o.ports[port] ?? port;
      await l.listen(this.#o.host, bind);
      this.#ports.set(port, l);
      this.#logger.info('hyphae gateway: listening', { port, protocol, address: `${l.address?.address}:${l.address?.port}` });
    }
  }

  /** The certificate for a ClientHello naming `servername` on `port`: its listener's, else the port's first HTTPS listener's. */
  #certificate(port: number, servername: string | undefined) {
    const spec = this.#spec;
    if (!spec) return undefined;
    const chosen = this.#routing?.listenerFor(port, servername) ?? spec.listeners.find((l) => l.port === port && l.tls !== undefined);
    return chosen ? this.#tls.current(chosen) : undefined;
  }

  /** Re-reads the certificate files that changed; handshakes then take what was loaded (TlsContexts.current). */
  #checkCertificateFiles(spec: GatewaySpec | undefined): void {
    for (const l of spec?.listeners ?? []) if (l.tls) this.#tls.refresh(l);
  }

  #refreshCertificates(): void {
    this.#checkCertificateFiles(this.#spec);
    for (const [port, l] of this.#ports) if (l.protocol === 'HTTPS') l.setDefaultCertificate(this.#certificate(port, undefined));
  }

  #handle(req: http.IncomingMessage, res: http.ServerResponse, port: number, proto: 'http' | 'https'): void {
    const routing = this.#routing;
    const spec = this.#spec;
    if (routing === undefined || spec === undefined) return sendEdgeError(res, 503, ErrorCode.NO_ENDPOINTS, 'the gateway has no configuration');
    const sni = proto === 'https' ? (req.socket as TLSSocket).servername || undefined : undefined;
    const found = routing.resolve(port, sni, req.headers.host);
    if (found?.routes === undefined) {
      return sendEdgeError(res, 404, ErrorCode.NO_ROUTE, `no route of gateway ${this.#o.namespace}/${this.#o.name} serves host ${JSON.stringify(req.headers.host ?? '')} on port ${port}`);
    }
    const body = limitBody(req, spec.edge.maxRequestBodyBytes);
    if (body === 'over') {
      // The body is not read: the connection cannot carry another request after it.
      return sendEdgeError(res, 413, ErrorCode.PAYLOAD_TOO_LARGE, `the request body exceeds ${spec.edge.maxRequestBodyBytes} bytes`, { connection: 'close' });
    }
    const add = forwardedHeaders(req, proto, spec.edge.trustedHops);
    // No SDK: this request's trace headers go on the call from here, not through the AsyncLocalStorage a
    // wrapped server's handler runs in (the port is marked, port-listener.ts); with an SDK, its context does.
    const trace = incomingTraceHeaders(req);
    if (trace !== undefined) for (const name of Object.keys(trace)) add.push(name, trace[name]!);
    void forwardToMesh(this.mesh, req, res, {
      service: found.routes.service,
      path: req.url ?? '/',
      drop: trace === undefined ? DROP : DROP_TRACE,
      add,
      body,
      options: found.routes.options,
      trustDeadline: spec.edge.trustDeadlineHeader === true,
    });
  }

  close(): Promise<void> {
    return (this.#closing ??= this.#close());
  }

  async #close(): Promise<void> {
    // readyz fails first, so a balancer stops sending before the listeners stop accepting.
    this.#draining = true;
    if (this.#o.drainDelayMs > 0 && this.#ports.size > 0) await new Promise((resolve) => setTimeout(resolve, this.#o.drainDelayMs));
    clearInterval(this.#certTimer);
    await this.#applying;
    await this.#watch?.close();
    await Promise.all([...this.#ports.values()].map((l) => l.close()));
    await this.mesh.close();
    const admin = this.#admin;
    if (admin) {
      admin.closeAllConnections();
      await new Promise<void>((resolve) => admin.close(() => resolve()));
    }
  }
}

/** Start the gateway: its mesh (createMesh, identity `.../sa/<service>`), its admin port, then its Gateway's listeners as they arrive. */
export async function startGateway(options: GatewayOptions): Promise<RunningGateway> {
  const o = resolveGatewayOptions(options);
  const mesh = await createMesh({ ...o.mesh, ...(o.logger ? { logger: o.logger } : {}) });
  const gateway = new Gateway(mesh, o);
  try {
    await gateway.start();
  } catch (err) {
    await gateway.close();
    throw err;
  }
  return gateway;
}
