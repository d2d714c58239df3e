/**
 * The protocol hint an instance registers with (Linkerd's destination service gives its proxies the same
 * "protocol hint"): `hyphae.dev/protocol: h2` says the server speaks HTTP/2 when ALPN offers it. wrapServer
 * sets it for an HTTP/2 server. A client in `auto` over mTLS then makes the endpoint's first pool
 * HTTP/2-shaped, so a cold burst shares a few connections instead of opening one per call until the first
 * connection has taught it; ALPN still decides each connection, and an endpoint whose server answers
 * HTTP/1.1 after all gets an HTTP/1.1 pool at once (client/endpoint/endpoint.ts). A label rather than a
 * field of the instance: clients and control planes older than the hint pass labels through unread.
 */
export const PROTOCOL_HINT_LABEL = 'hyphae.dev/protocol';
export const PROTOCOL_HINT_H2 = 'h2';
