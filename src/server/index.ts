export { wrapServer, wrappedState, type WrapServerOptions, type WrapServerDeps, type WrappedServerState } from './wrap-server.js';
export type { ServerRegistrar, RegisteredInstance, InstanceInfo } from './registrar.js';
export { deadlineIntake, getDeadline, getRemainingMs, getSignal, type DeadlineIntakeOptions } from './deadline-intake.js';
export { LoadShedder, type LoadSheddingOptions } from './load-shedding.js';
