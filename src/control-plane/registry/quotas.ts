/**
 * Registration quotas, the same for the memory and the etcd registry (issue
 * 13: one join token registered 13,777 instances in 25 s, and each of them is
 * copied to every watcher of its service).
 *
 * - Instances per join token: the live instances registered with that token
 *   (a deregistered or expired instance frees its slot; a re-registration of
 *   the same instance replaces it and is not counted twice). The admin token
 *   is not counted: it can mint join tokens at will, so a quota on it would
 *   bound nothing; it is bounded by the per-service cap like everyone else.
 *   On an `--insecure` control plane every caller is admin, so only the
 *   per-service cap applies there.
 * - Instances per service, whoever registers them.
 */
import { ErrorCode, MeshError } from '../../core/errors.js';

export const DEFAULT_MAX_INSTANCES_PER_TOKEN = 1_000;
export const DEFAULT_MAX_INSTANCES_PER_SERVICE = 5_000;
export const MAX_INSTANCE_QUOTA = 1_000_000;

export interface RegistryLimits {
  maxInstancesPerToken: number;
  maxInstancesPerService: number;
}

export const DEFAULT_REGISTRY_LIMITS: RegistryLimits = Object.freeze({
  maxInstancesPerToken: DEFAULT_MAX_INSTANCES_PER_TOKEN,
  maxInstancesPerService: DEFAULT_MAX_INSTANCES_PER_SERVICE,
});

export interface QuotaUse {
  /** `namespace/name`. */
  service: string;
  /** The join token's id; undefined for the admin token (not counted per token). */
  owner: string | undefined;
  /** Live instances of the service, not counting the one this registration replaces. */
  serviceInstances: number;
  /** Live instances registered with `owner`, not counting the one this registration replaces. */
  ownerInstances: number;
}

/** Throw QUOTA_EXCEEDED (answered 429) when one more instance would pass a limit. */
export function checkQuotas(limits: RegistryLimits, use: QuotaUse): void {
  if (use.owner !== undefined && use.ownerInstances >= limits.maxInstancesPerToken) {
    throw new MeshError(
      ErrorCode.QUOTA_EXCEEDED,
      `join token ${use.owner} already has ${use.ownerInstances} live instances, the most one token may register ` +
        `(--max-instances-per-token ${limits.maxInstancesPerToken}); deregister some or let them expire first`,
      { rejected: true, details: { quota: 'instancesPerToken', limit: limits.maxInstancesPerToken, token: use.owner } },
    );
  }
  if (use.serviceInstances >= limits.maxInstancesPerService) {
    throw new MeshError(
      ErrorCode.QUOTA_EXCEEDED,
      `service ${use.service} already has ${use.serviceInstances} live instances, the most one service may have ` + `(--max-instances-per-service ${limits.maxInstancesPerService})`,
      { rejected: true, details: { quota: 'instancesPerService', limit: limits.maxInstancesPerService, service: use.service } },
    );
  }
}

/** Live instances per owner (join token id), kept beside each registry's members. */
export class OwnerCounts {
  #counts = new Map<string, number>();

  get(owner: string | undefined): number {
    return owner === undefined ? 0 : (this.#counts.get(owner) ?? 0);
  }

  add(owner: string | undefined): void {
    if (owner !== undefined) this.#counts.set(owner, this.get(owner) + 1);
  }

  remove(owner: string | undefined): void {
    if (owner === undefined) return;
    const n = this.get(owner) - 1;
    if (n > 0) this.#counts.set(owner, n);
    else this.#counts.delete(owner);
  }

  clear(): void {
    this.#counts.clear();
  }
}
