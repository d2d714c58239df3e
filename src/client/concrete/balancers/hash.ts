/**
 * A fast 32-bit string hash with good avalanche: FNV-1a over UTF-16 code
 * units, then murmur3's finalizer (FNV alone spreads short, similar keys such
 * as "10.0.0.1:80#17" poorly). It hashes a slice of a string without copying
 * it, so a cookie value is hashed where it sits in the Cookie header.
 */
export function hash32(s: string, start = 0, end = s.length): number {
  let h = 0x811c9dc5;
  for (let i = start; i < end; i++) {
    h ^= s.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}
