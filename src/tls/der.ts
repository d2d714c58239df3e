/**
 * The few DER encodings a PKCS#10 request needs (X.690). A workload builds one
 * CSR at start and one per renewal; this is enough for that, so a meshed
 * process does not load an ASN.1 library for it (node-forge weighs several
 * MiB of RSS in every process that imports it).
 */

/** Definite length: short form below 128, else 0x80 | byte count, then the bytes, big-endian. */
function length(n: number): Buffer {
  if (n < 0x80) return Buffer.from([n]);
  const bytes: number[] = [];
  for (let v = n; v > 0; v = Math.floor(v / 256)) bytes.unshift(v & 0xff);
  return Buffer.from([0x80 | bytes.length, ...bytes]);
}

/** One tag-length-value; `tag` is the whole identifier octet (class, constructed bit, number < 31). */
export function tlv(tag: number, ...content: Buffer[]): Buffer {
  const body = Buffer.concat(content);
  return Buffer.concat([Buffer.from([tag]), length(body.length), body]);
}

export const sequence = (...content: Buffer[]): Buffer => tlv(0x30, ...content);
/** SET OF with one element, or elements already in DER order (callers here pass one). */
export const set = (...content: Buffer[]): Buffer => tlv(0x31, ...content);
export const nullValue = (): Buffer => Buffer.from([0x05, 0x00]);
export const smallInteger = (n: number): Buffer => {
  if (!Number.isInteger(n) || n < 0 || n > 127) throw new RangeError(`smallInteger takes 0..127, not ${n}`);
  return tlv(0x02, Buffer.from([n]));
};
export const octetString = (content: Buffer): Buffer => tlv(0x04, content);
/** A BIT STRING of whole bytes: the leading octet says no bits are unused. */
export const bitString = (content: Buffer): Buffer => tlv(0x03, Buffer.from([0]), content);
export const utf8String = (s: string): Buffer => tlv(0x0c, Buffer.from(s, 'utf8'));
/** The content octets of an IA5String (ASCII), for an IMPLICIT tag of the caller's. */
export function ia5Content(s: string): Buffer {
  for (let i = 0; i < s.length; i++) if (s.charCodeAt(i) > 0x7f) throw new RangeError('an IA5String holds ASCII only');
  return Buffer.from(s, 'ascii');
}

export function oid(dotted: string): Buffer {
  const arcs = dotted.split('.').map(Number);
  if (arcs.length < 2 || arcs.some((a) => !Number.isSafeInteger(a) || a < 0)) throw new RangeError(`not an OID: ${dotted}`);
  const out = [40 * arcs[0]! + arcs[1]!];
  for (const arc of arcs.slice(2)) {
    // Base 128, most significant group first, every group but the last with its high bit set.
    const groups = [arc & 0x7f];
    for (let v = Math.floor(arc / 128); v > 0; v = Math.floor(v / 128)) groups.unshift(0x80 | (v & 0x7f));
    out.push(...groups);
  }
  return tlv(0x06, Buffer.from(out));
}

export function pem(label: string, der: Buffer): string {
  const b64 = der.toString('base64');
  const lines: string[] = [];
  for (let i = 0; i < b64.length; i += 64) lines.push(b64.slice(i, i + 64));
  return `-----BEGIN ${label}-----\n${lines.join('\n')}\n-----END ${label}-----\n`;
}
