import type { BackendService } from '../../concrete/backend-service.js';
import type { Subset } from '../../concrete/subset.js';

/**
 * Where a routed call goes: a subset of the parent service or of another
 * service (a traffic split across services). The balancer picks an endpoint of
 * `subset` for each attempt, once `destination` knows its endpoints.
 */
export interface Backend {
  readonly destination: BackendService;
  readonly subset: Subset;
  /** `api` or `api/v2`, for messages. */
  readonly label: string;
}
