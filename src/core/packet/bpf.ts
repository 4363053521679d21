/**
 * libpcap filter text from the doors, in the shape of knockd's generate_pcap_filter()
 * (knockd-behaviour.md §2.3):
 *
 *   ((dst host A or dst host B) and (((tcp dst port P1 or P2) and tcp[tcpflags] & tcp-syn != 0) or (udp dst port U1)))
 *
 * - one expression per door and address family (IPv4 first, then IPv6), joined with " or " in the
 *   order door1-v4, door1-v6, door2-v4, …; TCP ports in sequence order (duplicates kept, as knockd);
 * - flags fin, syn, rst, push, ack, urg in that order: "& tcp-X != 0" (must be set) / "== 0" (must be
 *   clear); IPv6 uses ip6[13+40] because libpcap rejects tcp[] for IPv6 (so, as in knockd, IPv6 TCP
 *   packets with extension headers do not pass a flag clause; libpcap's "tcp dst port" also only
 *   looks at the first next header);
 * - a door's `target` replaces the local addresses (written once, in the family of the target);
 * - doors without a sequence (SPA-only) contribute nothing; IPv6 parts only when `ipv6` is true;
 * - the SPA port, when given, adds ((dst host A …) and (udp dst port N)) per family.
 *
 * Fixed knockd quirks: a target is not repeated once per local address, and a door whose addresses
 * are missing contributes nothing instead of dropping the whole filter. If there is something to
 * listen for but no address to listen on, the result is MATCH_NOTHING (never "no filter", which
 * would deliver every packet on the interface to userland as knockd does, V56). '' is returned only
 * when there is nothing at all to listen for (no sequence door, no SPA port).
 */
import { parseIp } from '../ip.js';
import type { Door, FlagName } from '../config/types.js';
import { MIN_LEN as SPA_MIN_LEN, MAX_LEN as SPA_MAX_LEN, MAGIC0, MAGIC1 } from '../spa/wire.js';

export interface FilterInput {
  doors: readonly Door[];
  localAddrs: readonly string[];
  ipv6: boolean;
  /** include ((dst host LOCAL…) and (udp dst port N)) when given */
  spaPort?: number;
}

/** A filter libpcap accepts (its optimiser does not reduce it to "reject all") that matches no real packet. */
export const MATCH_NOTHING = 'less 1 and greater 2';

const FLAG_ORDER: readonly (readonly [FlagName, string])[] = [
  ['fin', 'tcp-fin'], ['syn', 'tcp-syn'], ['rst', 'tcp-rst'], ['psh', 'tcp-push'], ['ack', 'tcp-ack'], ['urg', 'tcp-urg'],
];

function familyAddrs(addrs: readonly string[], family: 4 | 6): string[] {
  const out: string[] = [];
  for (const a of addrs) {
    const ip = parseIp(a);
    if (ip && ip.family === family && !out.includes(ip.text)) out.push(ip.text);
  }
  return out;
}

function hostClause(addrs: readonly string[]): string {
  return '(' + addrs.map((a) => `dst host ${a}`).join(' or ') + ')';
}

/**
 * knockd's per-door expression for one family (printed with -D as
 * `adding pcap expression for door 'NAME': EXPR`). `addrs` are the local addresses (any family;
 * only those of `family` are used); a door `target` replaces them. undefined when the door
 * contributes nothing for this family (no sequence, or no address of this family).
 */
export function doorFilter(door: Door, addrs: readonly string[], family: 4 | 6): string | undefined {
  if (door.sequence.length === 0) return undefined;
  const hosts = familyAddrs(door.target !== undefined ? [door.target] : addrs, family);
  if (hosts.length === 0) return undefined;
  const tcp = door.sequence.filter((h) => h.proto === 'tcp').map((h) => h.port);
  const udp = door.sequence.filter((h) => h.proto === 'udp').map((h) => h.port);
  const parts: string[] = [];
  if (tcp.length > 0) {
    let s = `((tcp dst port ${tcp.join(' or ')})`;
    for (const [name, prim] of FLAG_ORDER) {
      const want = door.tcpFlags[name];
      if (want === undefined) continue;
      const field = family === 4 ? 'tcp[tcpflags]' : 'ip6[13+40]';
      s += ` and ${field} & ${prim} ${want ? '!=' : '=='} 0`;
    }
    parts.push(s + ')');
  }
  if (udp.length > 0) parts.push(`(udp dst port ${udp.join(' or ')})`);
  return `(${hostClause(hosts)} and (${parts.join(' or ')}))`;
}

/** The complete filter to install: see the module comment for the rules. */
/**
 * Kernel-side pre-filter for SPA datagrams: the UDP length must be one a valid request can have
 * and the payload must start with the magic "KN". A junk flood is then dropped by the kernel and
 * never costs a wake-up, a copy or a decode in JavaScript (the checks are repeated in userland;
 * this is only the cheapest gate). IPv6 offsets assume no extension headers, as knockd's flag
 * tests do; such packets are not seen by the filter at all.
 */
export function spaShape(fam: 4 | 6): string {
  const lo = 8 + SPA_MIN_LEN, hi = 8 + SPA_MAX_LEN, magic = `0x${((MAGIC0 << 8) | MAGIC1).toString(16)}`;
  return fam === 4
    ? `udp[4:2] >= ${lo} and udp[4:2] <= ${hi} and udp[8:2] = ${magic}`
    : `ip6[44:2] >= ${lo} and ip6[44:2] <= ${hi} and ip6[48:2] = ${magic}`;
}

export function buildFilter(input: FilterInput): string {
  const families: (4 | 6)[] = input.ipv6 ? [4, 6] : [4];
  const exprs: string[] = [];
  let wanted = false;
  for (const door of input.doors) {
    if (door.sequence.length === 0) continue;
    wanted = true;
    for (const fam of families) {
      const e = doorFilter(door, input.localAddrs, fam);
      if (e !== undefined) exprs.push(e);
    }
  }
  const spa = input.spaPort;
  if (spa !== undefined && Number.isInteger(spa) && spa >= 1 && spa <= 65535) {
    wanted = true;
    for (const fam of families) {
      const hosts = familyAddrs(input.localAddrs, fam);
      if (hosts.length > 0) exprs.push(`(${hostClause(hosts)} and (udp dst port ${spa}) and ${spaShape(fam)})`);
    }
  }
  if (exprs.length > 0) return exprs.join(' or ');
  return wanted ? MATCH_NOTHING : '';
}
