/**
 * `hyphae tap`'s path and bounds, apart from the wire schemas in ./tap.ts (which re-exports them): the
 * `hyphae tap` command prints and checks them, and must not load zod to do so.
 */
import { API_PREFIX } from './api-paths.js';

/** `GET /v1/tap/<namespace>/<service>` opens a tap (SSE, admin token); `POST /v1/tap/<id>` feeds it. */
export const TAP_PATH = `${API_PREFIX}/tap`;

/** Samples per second per tap when the caller names none (linkerd viz tap's default). */
export const DEFAULT_TAP_MAX_RPS = 100;
/** The most a tap may ask for: every instance caps itself at this, and the control plane caps the tap too. */
export const MAX_TAP_MAX_RPS = 1000;
/** A tap ends by itself after this long unless the caller asks for less (or more, up to the maximum). */
export const DEFAULT_TAP_DURATION_MS = 5 * 60_000;
export const MAX_TAP_DURATION_MS = 60 * 60_000;
/**
 * An instance stops tapping when it has not heard its tap announced again for this long. The control
 * plane repeats every announcement at a third of it, so a lost "off" (a watch stream that broke at the
 * wrong moment) costs at most this much sampling, and an instance that starts mid-tap joins within a third.
 */
export const TAP_LEASE_MS = 10_000;
/** Paths are cut to this many characters (query and fragment are never sent: they carry data). */
export const MAX_TAP_PATH = 256;
/** Samples in one batch an instance posts; the instance flushes sooner, every TAP_FLUSH_MS. */
export const MAX_TAP_BATCH = 200;
export const TAP_FLUSH_MS = 250;
/** Taps a service may carry at once (also the control plane's bound per service). */
export const MAX_TAPS_PER_SERVICE = 8;
