/**
 * The ClientHello parser against real ClientHellos (Node's TLS client), the same cut into records and
 * fed a byte at a time, hand-built hostile ones, and a bounded fuzz loop: it never throws, never reads
 * past what it was given, and answers `more` only while the hello can still complete.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { DEFAULT_MAX_HELLO_BYTES, MAX_HELLO_RECORDS, readClientHello, type HelloResult } from '../../src/mesh-gateway/client-hello.js';
import { buildHello, captureHello, extension, serverName, splitRecords } from './hello-fixtures.js';

const NAME = 'api.default.dc2.hyphae';

function sni(r: HelloResult): string | undefined {
  return r.kind === 'sni' ? r.servername : undefined;
}

function cause(r: HelloResult): string | undefined {
  return r.kind === 'refused' ? r.cause : undefined;
}

describe('readClientHello', () => {
  it("reads the SNI of Node's own ClientHello, and asks for more at every shorter prefix", async () => {
    const hello = await captureHello(NAME);
    assert.equal(sni(readClientHello(hello)), NAME);
    for (let n = 0; n < hello.length; n++) assert.equal(readClientHello(hello.subarray(0, n)).kind, 'more', `prefix of ${n} bytes`);
    // Bytes after the hello (what a client may pipeline) do not matter.
    assert.equal(sni(readClientHello(Buffer.concat([hello, Buffer.from('trailing')]))), NAME);
  });

  it('reads a ClientHello cut into many records, and refuses one cut into more than MAX_HELLO_RECORDS', async () => {
    const hello = await captureHello(NAME);
    const fewest = Math.ceil((hello.length - 5) / MAX_HELLO_RECORDS);
    assert.equal(cause(readClientHello(splitRecords(hello, fewest - 1))), 'malformed');
    assert.equal(cause(readClientHello(splitRecords(hello, 1))), 'malformed');
    for (const size of [fewest, 100, 512]) {
      const split = splitRecords(hello, size);
      assert.equal(sni(readClientHello(split)), NAME, `records of ${size} bytes`);
      assert.equal(readClientHello(split.subarray(0, split.length - 1)).kind, 'more');
    }
  });

  it('refuses a ClientHello without SNI, and not-TLS bytes', async () => {
    assert.equal(cause(readClientHello(await captureHello(undefined))), 'no-sni');
    assert.equal(cause(readClientHello(buildHello(undefined))), 'no-sni');
    assert.equal(cause(readClientHello(buildHello([extension(10, Buffer.from([0, 2, 0, 29]))]))), 'no-sni');
    assert.equal(cause(readClientHello(Buffer.from('GET / HTTP/1.1\r\n\r\n'))), 'not-tls');
    assert.equal(cause(readClientHello(Buffer.from([0x16, 0x02, 0x00, 0x00, 0x05]))), 'not-tls');
  });

  it('refuses over the size bound, from the record or handshake header, before the bytes arrive', () => {
    // A handshake header announcing 1 MiB: refused from its first 9 bytes.
    const big = Buffer.from([0x16, 0x03, 0x01, 0x40, 0x00, 0x01, 0x10, 0x00, 0x00]);
    assert.equal(cause(readClientHello(big)), 'too-large');
    // Many records that together pass the bound, the handshake length unread yet (record by record).
    const small = buildHello([serverName(NAME)]);
    const tooMany = splitRecords(Buffer.concat([small.subarray(0, 5), Buffer.from([1, 0, 0x40, 0]), Buffer.alloc(DEFAULT_MAX_HELLO_BYTES + 100)]), 16_000);
    assert.equal(cause(readClientHello(tooMany, DEFAULT_MAX_HELLO_BYTES)), 'too-large');
    // A bound of our own: a real hello over it is refused.
    assert.equal(cause(readClientHello(buildHello([serverName(NAME), extension(21, Buffer.alloc(600))]), 512)), 'too-large');
    // An empty or over-long record.
    assert.equal(cause(readClientHello(Buffer.from([0x16, 0x03, 0x01, 0x00, 0x00]))), 'malformed');
    assert.equal(cause(readClientHello(Buffer.from([0x16, 0x03, 0x01, 0x48, 0x01]))), 'malformed');
  });

  it('refuses hostile server names: two names, two extensions, bytes a host name cannot hold, empty, over 253', () => {
    assert.equal(sni(readClientHello(buildHello([serverName(NAME)]))), NAME);
    assert.equal(cause(readClientHello(buildHello([serverName(NAME, 'web.default.dc2.hyphae')]))), 'malformed');
    assert.equal(cause(readClientHello(buildHello([serverName(NAME), serverName('web.default.dc2.hyphae')]))), 'malformed');
    assert.equal(cause(readClientHello(buildHello([serverName(Buffer.from('api.default.dc2.hyphae\0.evil'))]))), 'malformed');
    assert.equal(cause(readClientHello(buildHello([serverName('api/../x')]))), 'malformed');
    assert.equal(cause(readClientHello(buildHello([serverName('')]))), 'malformed');
    assert.equal(cause(readClientHello(buildHello([serverName('a'.repeat(254))]))), 'malformed');
    // A name type that is not host_name is skipped, so no host name at all.
    const other = extension(0, Buffer.from([0, 4, 1, 0, 1, 0x61]));
    assert.equal(cause(readClientHello(buildHello([other]))), 'no-sni');
  });

  it('refuses lengths that disagree with the bytes: extensions, the name list, a name, session id, suites', () => {
    const good = buildHello([serverName(NAME)]);
    const at = (offset: number, value: number) => {
      const b = Buffer.from(good);
      b[offset] = value;
      return b;
    };
    // Offsets in buildHello's layout: 5 record, 4 handshake, 2+32 fixed, then session id length at 43.
    assert.equal(cause(readClientHello(at(43, 33))), 'malformed', 'session id longer than 32');
    assert.equal(cause(readClientHello(at(45, 3))), 'malformed', 'odd cipher suites length');
    assert.equal(cause(readClientHello(at(48, 0))), 'malformed', 'no compression method');
    assert.equal(cause(readClientHello(at(51, 0xff))), 'malformed', 'extensions longer than the hello');
    assert.equal(cause(readClientHello(at(55, 0xff))), 'malformed', 'extension longer than the block');
    assert.equal(cause(readClientHello(at(57, 0xff))), 'malformed', 'name list longer than the extension');
    assert.equal(cause(readClientHello(at(60, 0xff))), 'malformed', 'name longer than the list');
    assert.equal(cause(readClientHello(Buffer.concat([good.subarray(0, 5), Buffer.from([2]), good.subarray(6)]))), 'malformed', 'not a ClientHello');
  });

  it('survives a bounded fuzz loop of random mutations and truncations without throwing', async () => {
    const seeds = [await captureHello(NAME), buildHello([serverName(NAME)]), splitRecords(await captureHello(NAME), 100)];
    // A fixed-seed generator: a failure replays.
    let state = 0x2545f491;
    const rand = (n: number) => {
      state ^= state << 13;
      state ^= state >>> 17;
      state ^= state << 5;
      return (state >>> 0) % n;
    };
    const kinds = { more: 0, sni: 0, refused: 0 };
    for (let i = 0; i < 20_000; i++) {
      const seed = seeds[i % seeds.length]!;
      const b = Buffer.from(seed.subarray(0, seed.length - rand(Math.min(seed.length, 40))));
      for (let m = 1 + rand(4); m > 0; m--) b[rand(b.length)] = rand(256);
      const r = readClientHello(b, 4096);
      kinds[r.kind]++;
      if (r.kind === 'sni') assert.match(r.servername, /^[A-Za-z0-9.-]{1,253}$/);
    }
    // Every outcome was reached: the loop exercised the parser, not one early exit.
    assert.ok(kinds.more > 0 && kinds.sni > 0 && kinds.refused > 0, JSON.stringify(kinds));
  });
});
