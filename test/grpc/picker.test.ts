/**
 * The mesh LB policy's picker on its own (fake subchannels, real Endpoints and the real round_robin view of
 * them): a retry's metadata naming the endpoints earlier attempts failed on steers the pick off them while
 * another READY one is available, changes nothing when none is, and never goes on with the key; what a
 * caller's metadata could put under the key does no more than that.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Metadata, type experimental } from '@grpc/grpc-js';
import type { Destination } from '../../src/client/destination.js';
import type { Endpoint } from '../../src/client/endpoint/endpoint.js';
import { Subset } from '../../src/client/concrete/subset.js';
import { RoundRobinBalancer } from '../../src/client/concrete/balancers/round-robin.js';
import type { EndpointHealth } from '../../src/resilience/outlier-detector.js';
import { endpointOfPeer, FAILED_ENDPOINTS_KEY, MAX_FAILED_ENDPOINTS, noteFailedPeer, writeFailedEndpoints } from '../../src/grpc/failed-endpoints.js';
import { MeshPicker, type ReadyConnection } from '../../src/grpc/picker.js';
import { fakeEndpoint } from '../helpers/client-fakes.js';

const address = (ep: Endpoint): string => `${ep.info.address}:${ep.info.port}`;

/** Three endpoints under round_robin; a picker whose READY ones are `ready` (all by default). */
function setup(): { eps: Endpoint[]; picker: (ready?: Endpoint[]) => MeshPicker } {
  const eps = [fakeEndpoint(7001), fakeEndpoint(7002), fakeEndpoint(7003)];
  const all = new Subset(undefined);
  all.refresh(eps, { newBalancer: () => new RoundRobinBalancer(), locality: undefined }, true);
  const destination = { endpoints: { all }, outlier: undefined } as unknown as Destination;
  const byAddress = new Map(eps.map((ep) => [address(ep), ep]));
  return {
    eps,
    picker: (ready = eps) => {
      const connections = new Map<Endpoint, ReadyConnection>(ready.map((ep) => [ep, { subchannel: { ep } as unknown as experimental.SubchannelInterface, session: {} }]));
      return new MeshPicker(destination, connections, byAddress);
    },
  };
}

/** `n` picks, each with its own metadata from `make`; the endpoint each went to, and each metadata as handed on. */
function picks(picker: MeshPicker, n: number, make: () => Metadata): { went: Endpoint[]; handed: Metadata[] } {
  const went: Endpoint[] = [];
  const handed: Metadata[] = [];
  for (let i = 0; i < n; i++) {
    const metadata = make();
    const r = picker.pick({ metadata, extraPickInfo: {} });
    went.push((r.subchannel as unknown as { ep: Endpoint }).ep);
    handed.push(metadata);
  }
  return { went, handed };
}

function retryMetadata(...peers: string[]): Metadata {
  const m = new Metadata();
  m.set('x-app', 'kept');
  writeFailedEndpoints(m, peers);
  return m;
}

function counts(went: Endpoint[], eps: Endpoint[]): number[] {
  return eps.map((ep) => went.filter((w) => w === ep).length);
}

describe('MeshPicker: a retry avoids the endpoints its call failed on', () => {
  it('a first attempt (no key) is balanced as before: round_robin over the three', () => {
    const { eps, picker } = setup();
    const { went, handed } = picks(picker(), 30, () => retryMetadata());
    assert.deepEqual(counts(went, eps), [10, 10, 10]);
    assert.deepEqual(handed[0]!.getMap(), { 'x-app': 'kept' });
  });

  it('a retry naming one endpoint never goes back to it while others are READY; the key is gone from the metadata handed on', () => {
    const { eps, picker } = setup();
    const { went, handed } = picks(picker(), 30, () => retryMetadata(address(eps[0]!)));
    const [a, b, c] = counts(went, eps);
    assert.equal(a, 0);
    assert.ok(b! > 0 && c! > 0, `b ${b}, c ${c}`);
    for (const m of handed) assert.deepEqual(m.getMap(), { 'x-app': 'kept' });
  });

  it('a retry naming two endpoints goes to the third', () => {
    const { eps, picker } = setup();
    const { went } = picks(picker(), 12, () => retryMetadata(address(eps[0]!), address(eps[2]!)));
    assert.deepEqual(counts(went, eps), [0, 12, 0]);
  });

  it('the endpoint failed on is avoided before one that is ejected: the retry goes to the one left', () => {
    const { eps, picker } = setup();
    eps[1]!.health = { available: false } as EndpointHealth;
    const { went } = picks(picker(), 12, () => retryMetadata(address(eps[0]!)));
    assert.deepEqual(counts(went, eps), [0, 0, 12]);
  });

  it('falls back to the endpoint failed on when it is the only READY one, and when every endpoint was failed on', () => {
    const { eps, picker } = setup();
    const onlyA = picks(picker([eps[0]!]), 6, () => retryMetadata(address(eps[0]!)));
    assert.deepEqual(counts(onlyA.went, eps), [6, 0, 0]);
    for (const m of onlyA.handed) assert.deepEqual(m.get(FAILED_ENDPOINTS_KEY), []);
    const every = picks(picker(), 30, () => retryMetadata(...eps.map(address)));
    assert.equal(every.went.length, 30);
    assert.deepEqual(counts(every.went, eps), [10, 10, 10]);
  });

  it("what a caller's own metadata puts under the key is ignored unless it names a subchannel, and always removed", () => {
    const { eps, picker } = setup();
    const junk = (): Metadata => {
      const m = new Metadata();
      for (const v of ['', ' ', 'hyphae:///api', 'unknown', `${address(eps[0]!)} `, address(eps[0]!).toUpperCase() + 'X', '127.0.0.1', 'a'.repeat(10_000)]) m.add(FAILED_ENDPOINTS_KEY, v);
      for (let i = m.get(FAILED_ENDPOINTS_KEY).length; i < MAX_FAILED_ENDPOINTS; i++) m.add(FAILED_ENDPOINTS_KEY, `127.0.0.1:${i}`);
      // Past the values read: not avoided.
      m.add(FAILED_ENDPOINTS_KEY, address(eps[0]!));
      return m;
    };
    const { went, handed } = picks(picker(), 30, junk);
    assert.deepEqual(counts(went, eps), [10, 10, 10]);
    for (const m of handed) assert.deepEqual(m.getMap(), {});
  });
});

describe('the failed endpoints a call keeps', () => {
  it('keeps addresses once each, up to the limit, and leaves out what metadata cannot carry', () => {
    let list: string[] | undefined;
    for (const peer of ['127.0.0.1:1', '127.0.0.1:1', '[::1]:2', 'bad\nvalue', '', 'é:1']) list = noteFailedPeer(list, endpointOfPeer(peer));
    assert.deepEqual(list, ['127.0.0.1:1', '[::1]:2']);
    for (let i = 0; i < 40; i++) list = noteFailedPeer(list, endpointOfPeer(`10.0.0.${i}:80`));
    assert.equal(list!.length, MAX_FAILED_ENDPOINTS);
  });

  it('the retry hooks name an attempt by its address, and nothing when it reached no subchannel', () => {
    for (const peer of ['127.0.0.1:8080', '[::1]:2', 'api-0.internal:50051']) assert.equal(endpointOfPeer(peer), peer);
    for (const peer of ['hyphae:///api', 'unknown', '', '127.0.0.1', 'a b:1']) assert.equal(endpointOfPeer(peer), undefined, peer);
  });

  it("a retry's metadata says the call's failed endpoints, not what the caller wrote under the key", () => {
    const m = new Metadata();
    m.set(FAILED_ENDPOINTS_KEY, 'from-the-caller');
    writeFailedEndpoints(m, ['127.0.0.1:1', '127.0.0.1:2']);
    assert.deepEqual(m.get(FAILED_ENDPOINTS_KEY), ['127.0.0.1:1', '127.0.0.1:2']);
  });
});
