export * from './spiffe.js';
export * from './peer-certificate.js';
export * from './signer.js';
export * from './keys.js';
export * from './csr.js';
export * from './certificate-provider.js';
export * from './workload-tls.js';
export * from './mtls-connector.js';
