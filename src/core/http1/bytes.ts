/**
 * Byte classes of RFC 9110/9112 as lookup tables: one array read per byte on the head's hot loop instead of
 * a regex per field, which matters when a proxy reads every head on its path (docs/architecture.md, "The
 * proxies' data path").
 */

function table(test: (b: number) => boolean): Uint8Array {
  const t = new Uint8Array(256);
  for (let b = 0; b < 256; b++) t[b] = test(b) ? 1 : 0;
  return t;
}

const TCHAR_PUNCT = "!#$%&'*+-.^_`|~";

/** tchar (RFC 9110 5.6.2): what a header name and a method are made of. */
export const TOKEN = table((b) => (b >= 0x30 && b <= 0x39) || (b >= 0x41 && b <= 0x5a) || (b >= 0x61 && b <= 0x7a) || TCHAR_PUNCT.includes(String.fromCharCode(b)));

/** field-vchar, SP and HTAB (RFC 9110 5.5): a field value's bytes. No CR, LF, NUL or other controls. */
export const FIELD_VALUE = table((b) => b === 0x09 || b === 0x20 || (b >= 0x21 && b <= 0x7e) || b >= 0x80);

/** A request-target's bytes: visible ASCII, no space, no control, no obs-text (RFC 9112 3.2 and 3986). */
export const TARGET = table((b) => b >= 0x21 && b <= 0x7e);

export const DIGITS = table((b) => b >= 0x30 && b <= 0x39);

/** HEXDIG: a chunk size's digits. */
export const HEX = table((b) => (b >= 0x30 && b <= 0x39) || (b >= 0x41 && b <= 0x46) || (b >= 0x61 && b <= 0x66));

export const CR = 0x0d;
export const LF = 0x0a;
export const SP = 0x20;
export const HTAB = 0x09;

/** Whether every byte of buf[from, to) is in the class. */
export function allIn(cls: Uint8Array, buf: Buffer, from: number, to: number): boolean {
  for (let i = from; i < to; i++) if (cls[buf[i]!] === 0) return false;
  return true;
}

/** Whether buf[from, to) is `lower` (lower-case ASCII) in any case: a field name compared without a string. */
export function equalsLower(buf: Buffer, from: number, to: number, lower: string): boolean {
  if (to - from !== lower.length) return false;
  for (let i = 0; i < lower.length; i++) {
    const c = buf[from + i]!;
    const l = lower.charCodeAt(i);
    // ASCII letters fold with 0x20; a byte that is not a letter must match exactly (CR | 0x20 is '-').
    if (c !== l && ((c | 0x20) !== l || l < 0x61 || l > 0x7a)) return false;
  }
  return true;
}
