/**
 * Registration of the servers a mesh wraps: each listening server registers
 * one instance with the control plane (renewed, deregistered on drain). The
 * registrations are kept so the stats report can say whose inbound traffic it
 * is, and so close() stops them.
 */
import type { Logger } from '../core/logger.js';
import type { ControlPlaneClient } from '../discovery/control-plane-client.js';
import { Registration } from '../discovery/registration.js';
import type { ServerRegistrar } from '../server/registrar.js';
import type { ResolvedMeshOptions } from './options.js';

export class MeshRegistrar implements ServerRegistrar {
  #client: ControlPlaneClient;
  #options: ResolvedMeshOptions;
  #logger: Logger;
  #registrations = new Set<Registration>();

  constructor(client: ControlPlaneClient, options: ResolvedMeshOptions, logger: Logger) {
    this.#client = client;
    this.#options = options;
    this.#logger = logger;
  }

  register: ServerRegistrar['register'] = async (info, signal) => {
    const o = this.#options;
    const reg = new Registration(
      this.#client,
      {
        service: o.service!,
        namespace: o.namespace,
        ...info,
        ...(o.ttlSeconds !== undefined ? { ttlSeconds: o.ttlSeconds } : {}),
      },
      this.#logger,
    );
    this.#registrations.add(reg);
    // The server drains or closes before the control plane answered: stop trying.
    signal?.addEventListener('abort', () => void reg.stop(), { once: true });
    const instance = await reg.start({ attempts: o.connectAttempts }).catch((err: unknown) => {
      this.#registrations.delete(reg);
      throw err;
    });
    return {
      id: instance.id,
      deregister: () => {
        this.#registrations.delete(reg);
        return reg.stop();
      },
    };
  };

  /** Ids of the instances registered so far. */
  instanceIds(): string[] {
    const ids: string[] = [];
    for (const r of this.#registrations) if (r.instance) ids.push(r.instance.id);
    return ids;
  }

  async close(): Promise<void> {
    await Promise.all([...this.#registrations].map((r) => r.stop()));
  }
}
