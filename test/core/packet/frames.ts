/**
 * Frame vectors for decode tests. Hand-written frames are hex segments (one per header) so each
 * field can be read against the expected values; the `captured` pcaps in test/fixtures/frames were
 * recorded with tcpdump in a network namespace (lo = Ethernet, any = Linux SLL / SLL2).
 */
import { readFileSync } from 'node:fs';
import type { LinkType } from '../../../src/core/packet/decode.js';

export interface Expect {
  family: 4 | 6; src: string; dst: string; proto: 'tcp' | 'udp';
  srcPort: number; dstPort: number; tcpFlags: number; payloadHex: string;
}
export interface Vector { name: string; link: LinkType; hex: string; expect: Expect | undefined }

export const hex = (...parts: string[]): string => parts.join('').replace(/\s+/g, '');
export const bytes = (h: string): Uint8Array => Uint8Array.from(Buffer.from(h, 'hex'));

// ---- building blocks -------------------------------------------------------------------------
export const ETH = (type: string) => `ffffffffffff 020000000001 ${type}`;
// IPv4 192.0.2.7 -> 10.0.0.2, UDP 54321 -> 62201, payload "SPA!" (total length 32)
export const V4_UDP = hex('4500 0020 1234 4000 4011 0000 c0000207 0a000002', 'd431 f2f9 000c 0000', '53504121');
// IPv4 198.51.100.1 -> 198.51.100.2, TCP 12345 -> 7000 SYN (total length 40)
export const V4_SYN = hex('4500 0028 0001 0000 4006 0000 c6336401 c6336402', '3039 1b58 00000001 00000000 5002 ffff 0000 0000');
const V6_SRC = '20010db8000000000000000000000001', V6_DST = '20010db8000000000000000000000002';
// IPv6 2001:db8::1 -> 2001:db8::2, UDP 54321 -> 62201 "SPA!"
export const V6_UDP = hex(`6000 0000 000c 11 40 ${V6_SRC} ${V6_DST}`, 'd431 f2f9 000c 0000', '53504121');
export const TCP_SYN_ACK_9000 = 'ff00 2328 00000001 00000002 5012 ffff 0000 0000'; // 65280 -> 9000, SYN|ACK
export const v6With = (firstNh: string, ext: string, l4: string): string =>
  hex(`6000 0000 ${(ext.replace(/\s+/g, '').length / 2 + l4.replace(/\s+/g, '').length / 2).toString(16).padStart(4, '0')} ${firstNh} 40 ${V6_SRC} ${V6_DST}`, ext, l4);

const udpExpect = (family: 4 | 6): Expect => family === 4
  ? { family, src: '192.0.2.7', dst: '10.0.0.2', proto: 'udp', srcPort: 54321, dstPort: 62201, tcpFlags: 0, payloadHex: '53504121' }
  : { family, src: '2001:db8::1', dst: '2001:db8::2', proto: 'udp', srcPort: 54321, dstPort: 62201, tcpFlags: 0, payloadHex: '53504121' };
const synExpect: Expect = { family: 4, src: '198.51.100.1', dst: '198.51.100.2', proto: 'tcp', srcPort: 12345, dstPort: 7000, tcpFlags: 0x02, payloadHex: '' };
const v6TcpExpect: Expect = { family: 6, src: '2001:db8::1', dst: '2001:db8::2', proto: 'tcp', srcPort: 65280, dstPort: 9000, tcpFlags: 0x12, payloadHex: '' };

export const VALID: Vector[] = [
  { name: 'ethernet ipv4 tcp syn', link: 'ETHERNET', hex: hex(ETH('0800'), V4_SYN), expect: synExpect },
  { name: 'ethernet ipv4 udp payload', link: 'ETHERNET', hex: hex(ETH('0800'), V4_UDP), expect: udpExpect(4) },
  { name: 'ethernet ipv4 udp + ethernet padding', link: 'ETHERNET', hex: hex(ETH('0800'), V4_UDP, '0000000000000000000000000000'), expect: udpExpect(4) },
  { name: 'ethernet ipv4 options (ihl 6) tcp', link: 'ETHERNET',
    hex: hex(ETH('0800'), '4600 002c 0001 0000 4006 0000 c6336401 c6336402 01010100', '3039 1b58 00000001 00000000 5002 ffff 0000 0000'), expect: synExpect },
  { name: 'ethernet ipv4 first fragment (MF, offset 0) udp', link: 'ETHERNET',
    hex: hex(ETH('0800'), '4500 0020 1234 2000 4011 0000 c0000207 0a000002', 'd431 f2f9 000c 0000', '53504121'), expect: udpExpect(4) },
  { name: 'ethernet ipv6 udp', link: 'ETHERNET', hex: hex(ETH('86dd'), V6_UDP), expect: udpExpect(6) },
  { name: 'ethernet ipv6 tcp syn|ack', link: 'ETHERNET', hex: hex(ETH('86dd'), v6With('06', '', TCP_SYN_ACK_9000)), expect: v6TcpExpect },
  { name: 'ipv6 hop-by-hop + dstopts + fragment(0) + tcp', link: 'ETHERNET',
    hex: hex(ETH('86dd'), v6With('00', '3c00 0104 0000 0000  2c00 0104 0000 0000  0600 0000 deadbeef', TCP_SYN_ACK_9000)), expect: v6TcpExpect },
  { name: 'ipv6 routing (24 bytes) + udp', link: 'ETHERNET',
    hex: hex(ETH('86dd'), v6With('2b', '1102 0000 00000000 00000000 00000000 00000000 00000000', 'd431 f2f9 000c 0000 53504121')), expect: udpExpect(6) },
  { name: 'ipv6 8 extension headers (the limit) + tcp', link: 'ETHERNET',
    hex: hex(ETH('86dd'), v6With('3c', '3c00 0104 0000 0000 '.repeat(7) + '0600 0104 0000 0000', TCP_SYN_ACK_9000)), expect: v6TcpExpect },
  { name: '802.1Q vlan 100 ipv4 udp', link: 'ETHERNET', hex: hex(ETH('8100'), '0064 0800', V4_UDP), expect: udpExpect(4) },
  { name: '802.1ad + 802.1Q (QinQ) ipv6 udp', link: 'ETHERNET', hex: hex(ETH('88a8'), '0064 8100', '00c8 86dd', V6_UDP), expect: udpExpect(6) },
  { name: 'linux sll ipv4 tcp', link: 'LINUX_SLL', hex: hex('0000 0001 0006 020000000001 0000 0800', V4_SYN), expect: synExpect },
  { name: 'linux sll ipv6 udp', link: 'LINUX_SLL', hex: hex('0000 0001 0006 020000000001 0000 86dd', V6_UDP), expect: udpExpect(6) },
  { name: 'linux sll2 ipv4 udp', link: 'LINUX_SLL2', hex: hex('0800 0000 00000002 0001 00 06 020000000001 0000', V4_UDP), expect: udpExpect(4) },
  { name: 'linux sll2 ipv6 tcp', link: 'LINUX_SLL2', hex: hex('86dd 0000 00000002 0001 00 06 020000000001 0000', v6With('06', '', TCP_SYN_ACK_9000)), expect: v6TcpExpect },
  { name: 'null little-endian AF_INET', link: 'NULL', hex: hex('02000000', V4_SYN), expect: synExpect },
  { name: 'null big-endian AF_INET', link: 'NULL', hex: hex('00000002', V4_UDP), expect: udpExpect(4) },
  { name: 'null little-endian AF_INET6 (24, BSD)', link: 'NULL', hex: hex('18000000', V6_UDP), expect: udpExpect(6) },
  { name: 'null big-endian AF_INET6 (30, macOS)', link: 'NULL', hex: hex('0000001e', V6_UDP), expect: udpExpect(6) },
  { name: 'null little-endian AF_INET6 (28, FreeBSD)', link: 'NULL', hex: hex('1c000000', v6With('06', '', TCP_SYN_ACK_9000)), expect: v6TcpExpect },
  { name: 'raw ipv4', link: 'RAW', hex: V4_SYN, expect: synExpect },
  { name: 'raw ipv6', link: 'RAW', hex: V6_UDP, expect: udpExpect(6) },
  { name: 'udp length shorter than ip payload bounds the payload', link: 'RAW',
    hex: hex('4500 0024 1234 4000 4011 0000 c0000207 0a000002', 'd431 f2f9 000a 0000', '5350 41 21 ffff'), expect: { ...udpExpect(4), payloadHex: '5350' } },
  { name: 'ip total length shorter than frame bounds the payload', link: 'RAW',
    hex: hex('4500 001e 1234 4000 4011 0000 c0000207 0a000002', 'd431 f2f9 000c 0000', '53504121'), expect: { ...udpExpect(4), payloadHex: '5350' } },
  { name: 'ipv4-mapped ipv6 source', link: 'RAW',
    hex: hex('6000 0000 000c 11 40 00000000000000000000ffffc0000207', V6_DST, 'd431 f2f9 000c 0000 53504121'),
    expect: { ...udpExpect(6), src: '::ffff:192.0.2.7' } },
];

export const INVALID: Vector[] = [
  { name: 'empty', link: 'ETHERNET', hex: '', expect: undefined },
  { name: 'arp ethertype', link: 'ETHERNET', hex: hex(ETH('0806'), V4_UDP), expect: undefined },
  { name: 'unknown ethertype 0x88cc', link: 'ETHERNET', hex: hex(ETH('88cc'), V4_UDP), expect: undefined },
  { name: 'three vlan tags', link: 'ETHERNET', hex: hex(ETH('8100'), '0001 8100 0002 8100 0003 0800', V4_UDP), expect: undefined },
  { name: 'bad ihl 4', link: 'RAW', hex: hex('4400', V4_UDP.slice(4)), expect: undefined },
  { name: 'ihl beyond total length', link: 'RAW', hex: hex('4f00', V4_UDP.slice(4)), expect: undefined },
  { name: 'version 5 under ethertype ipv4', link: 'ETHERNET', hex: hex(ETH('0800'), '5', V4_UDP.slice(1)), expect: undefined },
  { name: 'ipv6 header under ethertype ipv4', link: 'ETHERNET', hex: hex(ETH('0800'), V6_UDP), expect: undefined },
  { name: 'total length < header', link: 'RAW', hex: hex('4500 0010', V4_UDP.slice(8)), expect: undefined },
  { name: 'ipv4 non-first fragment', link: 'RAW', hex: hex('4500 0020 1234 0001 4011 0000 c0000207 0a000002', 'd431 f2f9 000c 0000 53504121'), expect: undefined },
  { name: 'ipv4 icmp', link: 'RAW', hex: hex('4500 0020 1234 4000 4001 0000 c0000207 0a000002', '0800 0000 0000 0000 53504121'), expect: undefined },
  { name: 'tcp header cut by total length', link: 'RAW', hex: hex('4500 0027', V4_SYN.slice(8)), expect: undefined },
  { name: 'udp length < 8', link: 'RAW', hex: hex('4500 0020 1234 4000 4011 0000 c0000207 0a000002', 'd431 f2f9 0007 0000 53504121'), expect: undefined },
  { name: 'ipv6 non-first fragment', link: 'RAW', hex: v6With('2c', '0600 0008 deadbeef', TCP_SYN_ACK_9000), expect: undefined },
  { name: 'ipv6 9 extension headers (over the limit)', link: 'RAW', hex: v6With('3c', '3c00 0104 0000 0000 '.repeat(8) + '0600 0104 0000 0000', TCP_SYN_ACK_9000), expect: undefined },
  { name: 'ipv6 extension header loop (hop-by-hop pointing to itself)', link: 'RAW', hex: v6With('00', '0000 0104 0000 0000 '.repeat(12), TCP_SYN_ACK_9000), expect: undefined },
  { name: 'ipv6 ext header length beyond payload', link: 'RAW', hex: v6With('3c', '06ff 0104 0000 0000', TCP_SYN_ACK_9000), expect: undefined },
  { name: 'ipv6 no next header (59)', link: 'RAW', hex: v6With('3b', '', TCP_SYN_ACK_9000), expect: undefined },
  { name: 'ipv6 esp (50)', link: 'RAW', hex: v6With('32', '', TCP_SYN_ACK_9000), expect: undefined },
  { name: 'ipv6 payload length 0', link: 'RAW', hex: hex(`6000 0000 0000 11 40 ${V6_SRC} ${V6_DST}`, 'd431 f2f9 000c 0000 53504121'), expect: undefined },
  { name: 'raw version 7', link: 'RAW', hex: hex('7', V4_UDP.slice(1)), expect: undefined },
  { name: 'null unknown family 7', link: 'NULL', hex: hex('07000000', V4_UDP), expect: undefined },
  { name: 'null family 2 over ipv6 bytes', link: 'NULL', hex: hex('02000000', V6_UDP), expect: undefined },
  { name: 'sll outgoing (pkttype 4) is ignored', link: 'LINUX_SLL', hex: hex('0004 0001 0006 020000000001 0000 0800', V4_SYN), expect: undefined },
  { name: 'sll2 outgoing (pkttype 4) is ignored', link: 'LINUX_SLL2', hex: hex('0800 0000 00000002 0001 04 06 020000000001 0000', V4_UDP), expect: undefined },
  { name: 'sll header only', link: 'LINUX_SLL', hex: '0000 0001 0006 020000000001 0000 0800'.replace(/\s+/g, ''), expect: undefined },
];

/** Minimal pcap (classic, little-endian, microseconds) reader for the captured fixtures. */
export function readPcap(file: string): { linktype: number; frames: Uint8Array[] } {
  const b = readFileSync(file);
  if (b.readUInt32LE(0) !== 0xa1b2c3d4) throw new Error(`${file}: not a little-endian pcap`);
  const linktype = b.readUInt32LE(20);
  const frames: Uint8Array[] = [];
  for (let o = 24; o + 16 <= b.length;) {
    const caplen = b.readUInt32LE(o + 8);
    frames.push(Uint8Array.from(b.subarray(o + 16, o + 16 + caplen)));
    o += 16 + caplen;
  }
  return { linktype, frames };
}
