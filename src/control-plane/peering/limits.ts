/**
 * Bounds on what one peer may make this control plane hold (docs/usage.md, "Peering"). A peer is
 * another cluster's control plane: trusted to name its own services, not to size our memory.
 */
/** Exported services one peer's update may carry. */
export const MAX_IMPORTED_SERVICES = 1_000;
/** Instances, over all services, one peer's update may carry. */
export const MAX_IMPORTED_INSTANCES = 10_000;
/** One SSE event from a peer (a whole export snapshot); larger is a protocol error, the link is cut. */
export const MAX_PEER_EVENT_BYTES = 8 * 1024 * 1024;
/** Peerings one control plane keeps, each way. */
export const MAX_PEERINGS = 64;
/** A peering token's addresses. */
export const MAX_PEER_ADDRESSES = 8;
