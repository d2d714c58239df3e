// One implementation of the test etcd cluster, shared with the control-plane bench.
export * from '../../examples/lib/etcd-cluster.js';
