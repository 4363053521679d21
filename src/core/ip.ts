/**
 * IP addresses as canonical text and bytes. This is the only formatter whose output may
 * be placed into a shell command (%IP%), so it accepts nothing but strict numeric forms
 * and always renders the same address the same way: dotted quad for IPv4, RFC 5952 for
 * IPv6 (lower case, longest zero run compressed, no zone, no brackets).
 * Pure: no I/O, never throws on bad input (returns undefined).
 */

export type Family = 4 | 6;
export interface Ip { readonly family: Family; readonly bytes: Uint8Array; readonly text: string }

export function formatV4(b: Uint8Array, off = 0): string {
  return `${b[off] ?? 0}.${b[off + 1] ?? 0}.${b[off + 2] ?? 0}.${b[off + 3] ?? 0}`;
}

/** RFC 5952 text of 16 bytes starting at `off`. IPv4-mapped addresses render as ::ffff:a.b.c.d. */
export function formatV6(b: Uint8Array, off = 0): string {
  const words: number[] = [];
  for (let i = 0; i < 8; i++) words.push(((b[off + 2 * i] ?? 0) << 8) | (b[off + 2 * i + 1] ?? 0));
  if (words[0] === 0 && words[1] === 0 && words[2] === 0 && words[3] === 0 && words[4] === 0 && words[5] === 0xffff) {
    return `::ffff:${formatV4(b, off + 12)}`;
  }
  // longest run of zero words (length >= 2), first one wins on ties
  let bestStart = -1, bestLen = 0;
  for (let i = 0; i < 8;) {
    if (words[i] !== 0) { i++; continue; }
    let j = i;
    while (j < 8 && words[j] === 0) j++;
    if (j - i > bestLen && j - i >= 2) { bestStart = i; bestLen = j - i; }
    i = j;
  }
  const hex = (w: number) => w.toString(16);
  if (bestStart < 0) return words.map(hex).join(':');
  const head = words.slice(0, bestStart).map(hex).join(':');
  const tail = words.slice(bestStart + bestLen).map(hex).join(':');
  return `${head}::${tail}`;
}

/**
 * Strict dotted quad: four decimal parts 0-255 of ASCII digits, no leading zeros ("0" itself is
 * fine), nothing else. Written out rather than as a regular expression: compiling that
 * expression on first use cost a fresh `knock` ~0.3-0.5 ms (issue 11).
 */
function parseV4Bytes(s: string): Uint8Array | undefined {
  const n = s.length;
  if (n < 7 || n > 15) return undefined;
  const out = new Uint8Array(4);
  let i = 0;
  for (let part = 0; ; part++) {
    const start = i;
    let v = 0;
    for (let c = s.charCodeAt(i); i < n && c >= 48 && c <= 57; c = s.charCodeAt(++i)) v = v * 10 + c - 48;
    const len = i - start;
    if (len === 0 || len > 3 || v > 255 || (len > 1 && s.charCodeAt(start) === 48)) return undefined;
    out[part] = v;
    if (part === 3) return i === n ? out : undefined;
    if (s.charCodeAt(i) !== 46) return undefined;   // '.' (NaN past the end)
    i++;
  }
}

function parseV6Bytes(s: string): Uint8Array | undefined {
  if (s.length < 2 || s.length > 45 || !/^[0-9A-Fa-f:.]+$/.test(s)) return undefined;
  const out = new Uint8Array(16);
  let tailV4: Uint8Array | undefined;
  let body = s;
  const lastColon = s.lastIndexOf(':');
  if (s.indexOf('.') >= 0) {
    tailV4 = parseV4Bytes(s.slice(lastColon + 1));
    if (!tailV4) return undefined;
    body = s.slice(0, lastColon + 1) + '0:0'; // two placeholder words, overwritten by tailV4 below
  }
  const dbl = body.indexOf('::');
  if (dbl !== body.lastIndexOf('::')) return undefined;
  const parseWords = (part: string): number[] | undefined => {
    if (part === '') return [];
    const ws = part.split(':');
    const r: number[] = [];
    for (const w of ws) {
      if (!/^[0-9A-Fa-f]{1,4}$/.test(w)) return undefined;
      r.push(parseInt(w, 16));
    }
    return r;
  };
  let words: number[];
  if (dbl >= 0) {
    const a = parseWords(body.slice(0, dbl));
    const b = parseWords(body.slice(dbl + 2));
    if (!a || !b || a.length + b.length > 7) return undefined;
    words = [...a, ...new Array<number>(8 - a.length - b.length).fill(0), ...b];
  } else {
    const a = parseWords(body);
    if (!a || a.length !== 8) return undefined;
    words = a;
  }
  words.forEach((w, i) => { out[2 * i] = w >> 8; out[2 * i + 1] = w & 0xff; });
  if (tailV4) out.set(tailV4, 12);
  return out;
}

/** Parse strict numeric IPv4 or IPv6 text (no zone ids, no brackets, no leading zeros in v4). */
export function parseIp(text: string): Ip | undefined {
  if (typeof text !== 'string') return undefined;
  const v4 = parseV4Bytes(text);
  if (v4) return { family: 4, bytes: v4, text: formatV4(v4) };
  const v6 = parseV6Bytes(text);
  if (v6) return { family: 6, bytes: v6, text: formatV6(v6) };
  return undefined;
}

export function ipFromBytes(b: Uint8Array): Ip | undefined {
  if (b.length === 4) { const c = Uint8Array.from(b); return { family: 4, bytes: c, text: formatV4(c) }; }
  if (b.length === 16) { const c = Uint8Array.from(b); return { family: 6, bytes: c, text: formatV6(c) }; }
  return undefined;
}

export interface Cidr { readonly family: Family; readonly bytes: Uint8Array; readonly prefix: number; readonly text: string }

/** "10.0.0.0/8", "2001:db8::/32", or a bare address (= host prefix). Host bits must be zero. */
export function parseCidr(text: string): Cidr | undefined {
  const slash = text.indexOf('/');
  const ip = parseIp(slash < 0 ? text : text.slice(0, slash));
  if (!ip) return undefined;
  const max = ip.family === 4 ? 32 : 128;
  let prefix = max;
  if (slash >= 0) {
    const p = text.slice(slash + 1);
    if (!/^\d{1,3}$/.test(p)) return undefined;
    prefix = Number(p);
    if (prefix > max) return undefined;
  }
  if (!inPrefix(ip.bytes, ip.bytes, prefix, true)) return undefined;
  return { family: ip.family, bytes: ip.bytes, prefix, text: `${ip.text}/${prefix}` };
}

function inPrefix(addr: Uint8Array, net: Uint8Array, prefix: number, checkHostBitsZero = false): boolean {
  for (let i = 0; i < addr.length; i++) {
    const bits = Math.max(0, Math.min(8, prefix - 8 * i));
    const mask = bits === 0 ? 0 : (0xff << (8 - bits)) & 0xff;
    const a = addr[i] ?? 0, n = net[i] ?? 0;
    if (checkHostBitsZero) { if ((a & ~mask & 0xff) !== 0) return false; }
    else if ((a & mask) !== (n & mask)) return false;
  }
  return true;
}

export function cidrContains(c: Cidr, ip: Ip): boolean {
  if (c.family !== ip.family) return false;
  return inPrefix(ip.bytes, c.bytes, c.prefix);
}

/**
 * Why an address must never be opened by a door, or undefined when it may be
 * (SECURITY.md, "Addresses that are never opened"). Such an address is never a real client:
 * the unspecified address (0.0.0.0/8, ::) or a broadcast one (255.255.255.255) would make
 * `-s %IP%` match nothing or, in some firewall front ends, everything; loopback (127/8, ::1)
 * would open the service to local users through the door; link-local (169.254/16, fe80::/10,
 * meaningless without a zone) and multicast (224/4, ff00::/8) are not single hosts. IPv4-mapped
 * IPv6 addresses (::ffff:a.b.c.d) are judged as the IPv4 address they carry.
 */
export type NeverOpen = 'unspecified' | 'loopback' | 'link-local' | 'multicast' | 'broadcast';

export function neverOpen(ip: Ip): NeverOpen | undefined {
  const b = ip.bytes;
  if (ip.family === 4) return v4NeverOpen(b, 0);
  let zeroTo10 = true;
  for (let i = 0; i < 10; i++) if (b[i] !== 0) zeroTo10 = false;
  if (zeroTo10 && b[10] === 0xff && b[11] === 0xff) return v4NeverOpen(b, 12);   // ::ffff:a.b.c.d
  const zeroTo15 = zeroTo10 && b[10] === 0 && b[11] === 0 && b[12] === 0 && b[13] === 0 && b[14] === 0;
  if (zeroTo15 && b[15] === 0) return 'unspecified';
  if (zeroTo15 && b[15] === 1) return 'loopback';
  if (b[0] === 0xff) return 'multicast';
  if (b[0] === 0xfe && ((b[1] ?? 0) & 0xc0) === 0x80) return 'link-local';
  return undefined;
}

function v4NeverOpen(b: Uint8Array, o: number): NeverOpen | undefined {
  const a0 = b[o] ?? 0, a1 = b[o + 1] ?? 0;
  if (a0 === 0) return 'unspecified';
  if (a0 === 127) return 'loopback';
  if (a0 === 169 && a1 === 254) return 'link-local';
  if (a0 >= 224 && a0 <= 239) return 'multicast';
  if (a0 === 255 && a1 === 255 && b[o + 2] === 255 && b[o + 3] === 255) return 'broadcast';
  return undefined;
}
