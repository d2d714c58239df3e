/** What the route handlers work with: built once by createControlPlane(). */
import type { Tokens } from '../auth/tokens.js';
import type { CertificateAuthority } from '../ca/certificate-authority.js';
import type { ControlPlaneMetrics } from '../metrics/control-plane-metrics.js';
import type { Peering } from '../peering/peering.js';
import type { Registry } from '../registry/registry.js';
import type { StatsHub } from '../stats/stats-hub.js';
import type { Store } from '../store/store.js';
import type { TapHub } from '../tap/tap-hub.js';
import type { WatchHub } from '../watch/watch-hub.js';

export interface ApiDeps {
  registry: Registry;
  store: Store;
  hub: WatchHub;
  tokens: Tokens;
  /** Undefined for an insecure control plane (--insecure): no CA, no certificates. */
  ca: CertificateAuthority | undefined;
  stats: StatsHub;
  metrics: ControlPlaneMetrics;
  /** `hyphae tap`: open taps, fed by the instances. */
  taps: TapHub;
  /** This control plane's cluster name (--cluster). */
  cluster: string;
  /** Peerings with other clusters, both ways (../peering). */
  peering: Peering;
}

/** Upper bound on services one watch stream may follow (a client follows what it calls: tens, not thousands). */
export const MAX_SERVICES_PER_STREAM = 10_000;
