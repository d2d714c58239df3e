/**
 * Attribute and instrument names. The `http.*`, `url.*`, `server.*`,
 * `network.*` and `error.type` names are the stable OpenTelemetry HTTP
 * semantic conventions (v1.23+); everything the mesh adds is under `hyphae.*`
 * (documented in docs/usage.md, "Telemetry"). Kept as constants here rather
 * than taken from @opentelemetry/semantic-conventions so the runtime needs no
 * package beyond the API.
 */
export const ATTR_HTTP_REQUEST_METHOD = 'http.request.method';
export const ATTR_HTTP_REQUEST_METHOD_ORIGINAL = 'http.request.method_original';
export const ATTR_HTTP_RESPONSE_STATUS_CODE = 'http.response.status_code';
export const ATTR_HTTP_REQUEST_RESEND_COUNT = 'http.request.resend_count';
export const ATTR_HTTP_ROUTE = 'http.route';
export const ATTR_ERROR_TYPE = 'error.type';
export const ATTR_SERVER_ADDRESS = 'server.address';
export const ATTR_SERVER_PORT = 'server.port';
export const ATTR_URL_FULL = 'url.full';
export const ATTR_URL_PATH = 'url.path';
export const ATTR_URL_SCHEME = 'url.scheme';
export const ATTR_CLIENT_ADDRESS = 'client.address';
export const ATTR_NETWORK_PEER_ADDRESS = 'network.peer.address';
export const ATTR_NETWORK_PEER_PORT = 'network.peer.port';
export const ATTR_NETWORK_PROTOCOL_VERSION = 'network.protocol.version';
export const ATTR_USER_AGENT_ORIGINAL = 'user_agent.original';

/** The service of this process (client side: the caller; server side: the callee). */
export const ATTR_HYPHAE_SERVICE = 'hyphae.service';
/** The calling service, when known (server side: from the peer's verified identity). */
export const ATTR_HYPHAE_SOURCE_SERVICE = 'hyphae.source.service';
export const ATTR_HYPHAE_DESTINATION_SERVICE = 'hyphae.destination.service';
/**
 * The cluster of this process (issue 17): its control plane's `--cluster`, on spans as hyphae.service is,
 * and on the server's metrics. Not `k8s.cluster.name`: a hyphae cluster is a control plane's failure
 * domain, which need not be one Kubernetes cluster, and a resource detector already sets that name to the
 * Kubernetes one. OpenTelemetry has no convention for a mesh's cluster (hence the `hyphae.` prefix).
 */
export const ATTR_HYPHAE_CLUSTER = 'hyphae.cluster';
/** The cluster of the endpoint a call (or an attempt) went to: an imported instance's own, else the caller's. */
export const ATTR_HYPHAE_DESTINATION_CLUSTER = 'hyphae.destination.cluster';
export const ATTR_HYPHAE_DESTINATION_NAMESPACE = 'hyphae.destination.namespace';
/** The Route rule that matched (its name, or `<route>/<index>`): a bounded name, never a raw path. */
export const ATTR_HYPHAE_ROUTE = 'hyphae.route';
export const ATTR_HYPHAE_SUBSET = 'hyphae.subset';
/** The endpoint (`address:port`) an attempt went to. */
export const ATTR_HYPHAE_ENDPOINT = 'hyphae.endpoint';
/** `success` or `failure`, by the mesh's one response classifier. */
export const ATTR_HYPHAE_OUTCOME = 'hyphae.outcome';
/**
 * Why an attempt was retried, as the retry policy names it: `retriable-status`, `connect-failure`,
 * `reset`, `per-try-timeout`, or `refused` (the peer shed the request). The same value on the
 * attempt's span event and on the `hyphae.client.retries` metric.
 */
export const ATTR_HYPHAE_RETRY_REASON = 'hyphae.retry.reason';
/**
 * Why a failed attempt was not retried (on the call's span): `attempts-exhausted`, `not-idempotent`,
 * `body-not-replayable`, `deadline`, `budget-exhausted`.
 */
export const ATTR_HYPHAE_RETRY_DECISION = 'hyphae.retry.decision';
/** The `HYPHAE_ERR_*` code of a mesh error. */
export const ATTR_HYPHAE_ERROR_CODE = 'hyphae.error.code';
/** The peer's verified SPIFFE ID (mTLS). */
export const ATTR_HYPHAE_PEER_IDENTITY = 'hyphae.peer.identity';
/** Why something was refused, shed or ejected (a short, bounded word). */
export const ATTR_HYPHAE_REASON = 'hyphae.reason';
/** The authorization policy that decided (namespace/name). */
export const ATTR_HYPHAE_POLICY = 'hyphae.policy';
/** An endpoint's state as the client sees it: `healthy`, `ejected` (`draining` is in the stats schema, not produced yet). */
export const ATTR_HYPHAE_ENDPOINT_STATE = 'hyphae.endpoint.state';
export const ATTR_HYPHAE_SPIFFE_ID = 'hyphae.tls.spiffe_id';

/** A span event per attempt of a mesh call. */
export const EVENT_ATTEMPT = 'hyphae.attempt';
/** A span event when the endpoint an attempt went to was ejected by outlier detection. */
export const EVENT_EJECTION = 'hyphae.endpoint.ejected';

// RPC (issue 18, hyphae/grpc): the OpenTelemetry RPC semantic conventions.
export const ATTR_RPC_SYSTEM = 'rpc.system';
export const ATTR_RPC_SERVICE = 'rpc.service';
export const ATTR_RPC_METHOD = 'rpc.method';
export const ATTR_RPC_GRPC_STATUS_CODE = 'rpc.grpc.status_code';
/** milliseconds, as the RPC conventions' metrics are (the HTTP ones are in seconds). */
export const METRIC_RPC_CLIENT_DURATION = 'rpc.client.duration';
export const METRIC_RPC_SERVER_DURATION = 'rpc.server.duration';

export const METRIC_CLIENT_DURATION = 'http.client.request.duration';
export const METRIC_SERVER_DURATION = 'http.server.request.duration';
export const METRIC_CLIENT_ACTIVE = 'http.client.active_requests';
export const METRIC_SERVER_ACTIVE = 'http.server.active_requests';
export const METRIC_RETRIES = 'hyphae.client.retries';
export const METRIC_BUDGET_EXHAUSTED = 'hyphae.client.retry_budget.exhausted';
export const METRIC_EJECTIONS = 'hyphae.client.endpoint.ejections';
export const METRIC_ENDPOINTS = 'hyphae.client.endpoints';
export const METRIC_SHED = 'hyphae.server.requests.shed';
export const METRIC_DENIED = 'hyphae.server.requests.denied';
export const METRIC_CERT_EXPIRATION = 'hyphae.tls.certificate.expiration';

/** The semconv advice for HTTP duration histograms, in seconds. */
export const HTTP_DURATION_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1, 2.5, 5, 7.5, 10];

const KNOWN_METHODS = new Set(['GET', 'HEAD', 'POST', 'PUT', 'DELETE', 'CONNECT', 'OPTIONS', 'TRACE', 'PATCH', 'QUERY']);

/** semconv: a method outside the known set is reported as `_OTHER` (bounded cardinality). */
export function normalizeMethod(method: string | undefined): string {
  if (method === undefined) return 'GET';
  if (KNOWN_METHODS.has(method)) return method;
  const upper = method.toUpperCase();
  return KNOWN_METHODS.has(upper) ? upper : '_OTHER';
}
