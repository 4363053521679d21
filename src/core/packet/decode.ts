/**
 * Frame decoder: link layer → IPv4/IPv6 → TCP/UDP, from untrusted bytes.
 *
 * Total: never throws, never reads outside the frame, allocates only the owned copies in the
 * returned Packet (4/16-byte addresses, UDP payload of at most MAX_PAYLOAD bytes). Anything
 * truncated, malformed or uninteresting yields `undefined`.
 *
 * Differences from knockd's sniff() (knockd-behaviour.md §2.1, §2.4, §2.9), all deliberate:
 *  - Ethernet frames with one or two 802.1Q / 802.1ad (or legacy 0x9100) VLAN tags are decoded.
 *  - IPv6 is decoded on every link type (Linux cooked SLL / SLL2, NULL, RAW too).
 *  - IPv6 extension headers (hop-by-hop, routing, fragment with offset 0, destination options)
 *    are walked, at most MAX_EXT_HEADERS of them.
 *  - Non-first IPv4/IPv6 fragments are ignored (their "ports" would be payload bytes).
 *  - IPv4 IHL, total length and the captured length are checked; Ethernet padding is ignored.
 *  - On cooked captures (SLL/SLL2) frames with packet type PACKET_OUTGOING (4) are ignored: with
 *    `-i any` a forwarded packet is seen once incoming and once outgoing; the incoming copy counts.
 *
 * UDP payload: bounded by the UDP length field, the IP length and the captured bytes, and then
 * capped at MAX_PAYLOAD bytes (SPA datagrams are far smaller). A longer datagram still decodes,
 * its `payload` holds only the first MAX_PAYLOAD bytes (the SPA decoder rejects it by length).
 */
import { formatV4, formatV6 } from '../ip.js';
import type { Packet } from '../types.js';

export type LinkType = 'ETHERNET' | 'LINUX_SLL' | 'LINUX_SLL2' | 'NULL' | 'RAW';

/** Largest UDP payload copied into a Packet. */
export const MAX_PAYLOAD = 2048;
/** Most IPv6 extension headers walked before giving up. */
export const MAX_EXT_HEADERS = 8;

const ETH_IPV4 = 0x0800, ETH_IPV6 = 0x86dd;
const VLAN_TYPES = new Set([0x8100, 0x88a8, 0x9100]);
const PACKET_OUTGOING = 4;
const PROTO_TCP = 6, PROTO_UDP = 17;

/**
 * Map the string cap's open() returns to a LinkType. cap names DLT_EN10MB 'ETHERNET',
 * DLT_LINUX_SLL 'LINKTYPE_LINUX_SLL', DLT_NULL 'NULL', DLT_RAW 'RAW' and everything else
 * 'Unknown linktype N' (N = DLT value): 276 = LINUX_SLL2, 108 = DLT_LOOP (NULL with network
 * byte order, handled by the NULL decoder), 101 = LINKTYPE_RAW, 228/229 = raw IPv4/IPv6.
 */
export function linkTypeFromCap(s: string): LinkType | undefined {
  switch (s) {
    case 'ETHERNET': return 'ETHERNET';
    case 'LINKTYPE_LINUX_SLL': case 'LINUX_SLL': return 'LINUX_SLL';
    case 'LINUX_SLL2': return 'LINUX_SLL2';
    case 'NULL': return 'NULL';
    case 'RAW': return 'RAW';
  }
  const m = /^Unknown linktype (\d{1,5})$/.exec(s);
  if (!m) return undefined;
  switch (Number(m[1])) {
    case 276: return 'LINUX_SLL2';
    case 108: return 'NULL';
    case 12: case 14: case 101: case 228: case 229: return 'RAW';
    default: return undefined;
  }
}

function u16(b: Uint8Array, i: number): number {
  return ((b[i] ?? 0) << 8) | (b[i + 1] ?? 0);
}

function copy(b: Uint8Array, start: number, end: number): Uint8Array {
  const out = new Uint8Array(end > start ? end - start : 0);
  if (end > start) out.set(b.subarray(start, end));
  return out;
}

/** The 4 bytes at `o` as an owned array (no intermediate view: this runs for every captured frame). */
function copy4(b: Uint8Array, o: number): Uint8Array {
  const out = new Uint8Array(4);
  out[0] = b[o] ?? 0; out[1] = b[o + 1] ?? 0; out[2] = b[o + 2] ?? 0; out[3] = b[o + 3] ?? 0;
  return out;
}

/** The payload of every TCP packet: zero-length, so sharing one (frozen) instance is safe. */
const EMPTY: Uint8Array = Object.freeze(new Uint8Array(0)) as Uint8Array;

/**
 * Text of the last IPv4 destination: a capture sees the same few local addresses over and over,
 * so this saves formatting a string per frame. A cache of one entry, keyed by the 32-bit value.
 */
let lastDst4 = -1, lastDst4Text = '';
function dstText4(b: Uint8Array): string {
  const v = (((b[0] ?? 0) << 24) | ((b[1] ?? 0) << 16) | ((b[2] ?? 0) << 8) | (b[3] ?? 0)) >>> 0;
  if (v !== lastDst4) { lastDst4Text = formatV4(b); lastDst4 = v; }
  return lastDst4Text;
}

/**
 * Decode one captured frame: its first `length` bytes (default all; clamped to the array), so a
 * capture can pass its reused buffer without making a view per frame. Never throws; undefined
 * for anything that is not a usable TCP/UDP packet.
 */
export function decodeFrame(link: LinkType, frame: Uint8Array, length?: number): Packet | undefined {
  try {
    if (!(frame instanceof Uint8Array)) return undefined;
    const n = length === undefined ? frame.length : Math.max(0, Math.min(Math.trunc(length) || 0, frame.length));
    return decodeLink(link, frame, n);
  } catch {
    return undefined; // defensive: the code below is written not to throw
  }
}

/** `len` = bytes of `f` that belong to the frame; nothing at or after it is read. */
function decodeLink(link: LinkType, f: Uint8Array, len: number): Packet | undefined {
  switch (link) {
    case 'ETHERNET': {
      if (len < 14) return undefined;
      let type = u16(f, 12);
      let off = 14;
      for (let tags = 0; tags < 2 && VLAN_TYPES.has(type); tags++) {
        if (len < off + 4) return undefined;
        type = u16(f, off + 2);
        off += 4;
      }
      return byEthertype(type, f, off, len);
    }
    case 'LINUX_SLL': {
      if (len < 16) return undefined;
      if (u16(f, 0) === PACKET_OUTGOING) return undefined;
      return byEthertype(u16(f, 14), f, 16, len);
    }
    case 'LINUX_SLL2': {
      if (len < 20) return undefined;
      if (f[10] === PACKET_OUTGOING) return undefined;
      return byEthertype(u16(f, 0), f, 20, len);
    }
    case 'NULL': {
      if (len < 4) return undefined;
      const le = ((f[0] ?? 0) | ((f[1] ?? 0) << 8) | ((f[2] ?? 0) << 16) | ((f[3] ?? 0) << 24)) >>> 0;
      const be = (((f[0] ?? 0) << 24) | ((f[1] ?? 0) << 16) | ((f[2] ?? 0) << 8) | (f[3] ?? 0)) >>> 0;
      const fam = isNullFamily(le) ? le : be;
      if (fam === 2) return ipv4(f, 4, len);
      if (fam === 24 || fam === 28 || fam === 30) return ipv6(f, 4, len);
      return undefined;
    }
    case 'RAW': {
      if (len < 1) return undefined;
      const v = (f[0] ?? 0) >> 4;
      if (v === 4) return ipv4(f, 0, len);
      if (v === 6) return ipv6(f, 0, len);
      return undefined;
    }
    default:
      return undefined;
  }
}

function isNullFamily(v: number): boolean {
  return v === 2 || v === 24 || v === 28 || v === 30;
}

function byEthertype(type: number, f: Uint8Array, off: number, len: number): Packet | undefined {
  if (type === ETH_IPV4) return ipv4(f, off, len);
  if (type === ETH_IPV6) return ipv6(f, off, len);
  return undefined;
}

function ipv4(f: Uint8Array, off: number, len: number): Packet | undefined {
  if (len < off + 20) return undefined;
  const vihl = f[off] ?? 0;
  if (vihl >> 4 !== 4) return undefined;
  const ihl = (vihl & 0x0f) * 4;
  if (ihl < 20) return undefined;
  const total = u16(f, off + 2);
  if (total < ihl) return undefined;
  const end = Math.min(len, off + total);
  if (off + ihl > end) return undefined;
  if ((u16(f, off + 6) & 0x1fff) !== 0) return undefined; // not the first fragment
  const proto = f[off + 9] ?? 0;
  if (proto !== PROTO_TCP && proto !== PROTO_UDP) return undefined;
  const src = copy4(f, off + 12);
  const dst = copy4(f, off + 16);
  return l4(4, src, dst, formatV4(src), dstText4(dst), proto, f, off + ihl, end);
}

function ipv6(f: Uint8Array, off: number, len: number): Packet | undefined {
  if (len < off + 40) return undefined;
  if ((f[off] ?? 0) >> 4 !== 6) return undefined;
  const end = Math.min(len, off + 40 + u16(f, off + 4));
  let nh = f[off + 6] ?? 0;
  let p = off + 40;
  for (let i = 0; nh !== PROTO_TCP && nh !== PROTO_UDP; i++) {
    if (i >= MAX_EXT_HEADERS) return undefined;
    if (p + 8 > end) return undefined;
    if (nh === 0 || nh === 43 || nh === 60) {
      const next = f[p] ?? 0;
      p += ((f[p + 1] ?? 0) + 1) * 8;
      nh = next;
    } else if (nh === 44) {
      if ((u16(f, p + 2) >> 3) !== 0) return undefined; // not the first fragment
      nh = f[p] ?? 0;
      p += 8;
    } else {
      return undefined;
    }
  }
  const src = copy(f, off + 8, off + 24);
  const dst = copy(f, off + 24, off + 40);
  return l4(6, src, dst, formatV6(src), formatV6(dst), nh, f, p, end);
}

function l4(family: 4 | 6, srcBytes: Uint8Array, dstBytes: Uint8Array, src: string, dst: string,
  proto: number, f: Uint8Array, p: number, end: number): Packet | undefined {
  if (proto === PROTO_TCP) {
    if (p + 20 > end) return undefined;
    return {
      family, src, dst, srcBytes, dstBytes, proto: 'tcp',
      srcPort: u16(f, p), dstPort: u16(f, p + 2), tcpFlags: f[p + 13] ?? 0, payload: EMPTY,
    };
  }
  if (proto === PROTO_UDP) {
    if (p + 8 > end) return undefined;
    const ulen = u16(f, p + 4);
    if (ulen < 8) return undefined;
    const pend = Math.min(end, p + ulen, p + 8 + MAX_PAYLOAD);
    return {
      family, src, dst, srcBytes, dstBytes, proto: 'udp',
      srcPort: u16(f, p), dstPort: u16(f, p + 2), tcpFlags: 0, payload: copy(f, p + 8, pend),
    };
  }
  return undefined;
}
