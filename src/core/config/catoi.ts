/**
 * Emulation of what knockd 0.8 does with number and sequence text (glibc atoi on x86-64,
 * parse_port_sequence()). We never *use* these meanings: the strict parser refuses such
 * values. The emulation serves hints ("knockd would knock port 0") and lets us tell apart
 * one-time-sequence lines that knockd skips from lines knockd would use with a surprising
 * meaning. Pure.
 */
import type { Hit } from './types.js';

/** C isspace() in the C locale. */
export const C_SPACE = ' \t\n\v\f\r';

/** Trim with C isspace() on both ends (not JS trim, which also strips Unicode spaces). */
export function cTrim(s: string): string {
  let a = 0, b = s.length;
  while (a < b && C_SPACE.includes(s[a] as string)) a++;
  while (b > a && C_SPACE.includes(s[b - 1] as string)) b--;
  return s.slice(a, b);
}

/** ASCII-only upper-casing, as C toupper() in the C locale. */
export function cUpper(s: string): string {
  return s.replace(/[a-z]+/g, (m) => m.toUpperCase());
}

/** glibc atoi(): skip blanks, optional sign, digits; strtol saturation, then (int) truncation. */
export function cAtoi(s: string): number {
  const m = /^[ \t\n\v\f\r]*([+-]?)(\d*)/.exec(s);
  const digits = m?.[2] ?? '';
  let v = BigInt(digits === '' ? '0' : digits);
  if (m?.[1] === '-') v = -v;
  const LMAX = (1n << 63n) - 1n, LMIN = -(1n << 63n);
  if (v > LMAX) v = LMAX;
  if (v < LMIN) v = LMIN;
  return Number(BigInt.asIntN(32, v));
}

export type KnockdSequenceResult = { ok: true; hits: Hit[] } | { ok: false; error: string };

/** What knockd 0.8's parse_port_sequence() makes of `text` (already trimmed by the caller). */
export function knockdSequence(text: string): KnockdSequenceResult {
  const hits: Hit[] = [];
  for (const item of text.split(',')) {
    if (hits.length >= 32) return { ok: false, error: 'too many ports in knock sequence' };
    const fields = item.split(':');
    const portText = fields[0] ?? '';
    const n = cAtoi(portText);
    if (n > 65535) return { ok: false, error: `port ${portText} is invalid` };
    const port = n & 0xffff;
    if (fields.length >= 2) {
      const p = cUpper(cTrim(fields[1] ?? ''));
      if (p === 'TCP') hits.push({ port, proto: 'tcp' });
      else if (p === 'UDP') hits.push({ port, proto: 'udp' });
      else return { ok: false, error: 'unknown protocol in knock sequence' };
    } else {
      hits.push({ port, proto: 'tcp' });
    }
  }
  return { ok: true, hits };
}
