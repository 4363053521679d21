/**
 * Types shared by the pure core. Nothing here does I/O. Time is always passed in as
 * milliseconds since the epoch (`now`), randomness through `Random`.
 */
import type { Family } from './ip.js';

export type Proto = 'tcp' | 'udp';

/** TCP flag bits as on the wire (byte 13 of the TCP header). */
export const TCP_FIN = 0x01, TCP_SYN = 0x02, TCP_RST = 0x04, TCP_PSH = 0x08, TCP_ACK = 0x10, TCP_URG = 0x20;

/** A decoded TCP or UDP packet. Produced by core/packet/decode.ts from untrusted bytes. */
export interface Packet {
  readonly family: Family;
  readonly src: string;          // canonical address text (core/ip.ts)
  readonly dst: string;          // canonical address text
  readonly srcBytes: Uint8Array; // 4 or 16 bytes, owned copy
  readonly dstBytes: Uint8Array;
  readonly proto: Proto;
  readonly srcPort: number;
  readonly dstPort: number;
  readonly tcpFlags: number;     // 0 for UDP
  readonly payload: Uint8Array;  // UDP payload (owned copy, bounded by the frame); empty for TCP
}

export interface Clock { now(): number }
export interface Random { bytes(n: number): Uint8Array }
