import type { ClientTarget, RoutedBackend } from '../../../telemetry/call-target.js';
import type { BackendService } from '../../concrete/backend-service.js';
import type { Subset } from '../../concrete/subset.js';
import type { RoutePolicy } from '../policy.js';
import type { ServicePolicy } from '../service-policy.js';

/** A service a route may send to: its endpoints (concrete tier) and its own Service policy (logical tier). */
export interface PolicedService extends BackendService {
  readonly policy: ServicePolicy;
}

/**
 * Where a routed call goes: a subset of the parent service or of another
 * service (a traffic split across services). The balancer picks an endpoint of
 * `subset` for each attempt, once `destination` knows its endpoints.
 */
export interface Backend extends RoutedBackend {
  readonly destination: BackendService;
  readonly subset: Subset;
  /** `api` or `api/v2`, for messages. */
  readonly label: string;
  /**
   * The backend service's own policy: its concurrency limit and retry budget are what a call sent here
   * counts against (Envoy keeps circuit breakers and retry budgets per upstream cluster), whatever route
   * or parent chose it.
   */
  readonly service: ServicePolicy;
  /** The timeouts and retry policy of calls the rule sends here; undefined: the called destination's own. */
  readonly policy: RoutePolicy | undefined;
  /** What names this service in the telemetry of the calls sent here (filled on the first one, by telemetry). */
  sentTo: ClientTarget | undefined;
}
