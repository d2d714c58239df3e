export { wrapServer, wrappedState, type WrapServerOptions, type WrapServerDeps, type WrappedServerState } from './wrap-server.js';
export type { ServerRegistrar, RegisteredInstance, InstanceInfo } from './registrar.js';
