/**
 * Channel credentials of a mesh's gRPC traffic: the workload's SVID and trust
 * bundle (one WorkloadCertificateProvider per mesh, shared by its channels, so
 * a rotation reaches each new connection), and the SPIFFE check of the
 * server: the identity in its certificate must be the workload of the service
 * called, the same check (and errors) as the HTTP side's mTLS connector. A
 * mesh without mTLS (http:// control plane) uses plaintext. Servers take no
 * credentials of grpc-js: serveGrpc's port does its own TLS (listener.ts).
 */
import { credentials, experimental, type ChannelCredentials } from '@grpc/grpc-js';
import type { PeerCertificate } from 'node:tls';
import type { AdapterHost } from '../mesh/adapter-host.js';
import { hasMtls } from '../mesh/start.js';
import { identityProblem } from '../tls/mtls-connector.js';
import type { WorkloadTls } from '../tls/workload-tls.js';
import { ErrorCode, MeshError } from '../core/errors.js';
import { WorkloadCertificateProvider } from './certificates.js';

interface MeshCertificates {
  provider: WorkloadCertificateProvider;
  /** Set once the mesh started: the identity check reads the trust domain from it. */
  tls: WorkloadTls | undefined;
  /**
   * One credentials object per service called (key "namespace/service"). grpc-js shares a connection between
   * channels (its global subchannel pool) only when their credentials are equal, and two credentials objects
   * with their own identity checks never are: each meshGrpcClient() made new connections to every instance.
   */
  channels: Map<string, ChannelCredentials>;
}

const byMesh = new WeakMap<AdapterHost, MeshCertificates>();

function certificates(host: AdapterHost): MeshCertificates {
  let c = byMesh.get(host);
  if (c === undefined) {
    const tls = host.started().then((rt) => rt.security?.tls);
    const made: MeshCertificates = { provider: new WorkloadCertificateProvider(tls, host.logger), tls: undefined, channels: new Map() };
    tls.then(
      (t) => (made.tls = t),
      () => undefined,
    );
    // The provider follows the certificate until the mesh closes (after its servers drained).
    host.onClose(() => {
      made.provider.close();
      return Promise.resolve();
    });
    byMesh.set(host, made);
    c = made;
  }
  return c;
}

/** Credentials of a channel to `service` in `namespace`: mTLS checking the server's SPIFFE ID, or plaintext. */
export function meshChannelCredentials(host: AdapterHost, service: string, namespace: string): ChannelCredentials {
  if (!hasMtls(host.options)) return credentials.createInsecure();
  const c = certificates(host);
  const key = `${namespace}/${service}`;
  const made = c.channels.get(key);
  if (made !== undefined) return made;
  const creds = experimental.createCertificateProviderChannelCredentials(c.provider, c.provider, {
    // Replaces Node's host name check (DNS and IP SANs): a workload certificate carries a SPIFFE ID only.
    checkServerIdentity: (hostname: string, cert: PeerCertificate) => {
      const tls = c.tls;
      if (tls === undefined) return new MeshError(ErrorCode.NO_CERTIFICATE, `no workload certificate yet to call ${service} over mTLS`, { details: { service } });
      return identityProblem(cert, tls.expectedId(namespace, service), tls.trustDomain, service, hostname);
    },
  });
  c.channels.set(key, creds);
  return creds;
}
