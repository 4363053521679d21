/**
 * TCP flag constraints of a door (`TCPFlags = syn,!ack`), knockd's `flags_match()`:
 * for a TCP packet every flag the door wants SET must be 1 and every flag it wants NOT_SET
 * must be 0; all other bits are ignored (a SYN+ACK matches `syn`). UDP packets always match
 * (flags are irrelevant for UDP hits). Pure, never throws.
 */
import type { Door, FlagName } from '../config/types.js';
import type { Packet } from '../types.js';
import { TCP_ACK, TCP_FIN, TCP_PSH, TCP_RST, TCP_SYN, TCP_URG } from '../types.js';

export const FLAG_BITS: Readonly<Record<FlagName, number>> = {
  fin: TCP_FIN, syn: TCP_SYN, rst: TCP_RST, psh: TCP_PSH, ack: TCP_ACK, urg: TCP_URG,
};

const NAMES = Object.keys(FLAG_BITS) as FlagName[];

/** The door's constraints as two bit masks: bits that must be 1 and bits that must be 0. */
export function flagMasks(door: Door): { set: number; clear: number } {
  let set = 0, clear = 0;
  const f = door.tcpFlags;
  for (const n of NAMES) {
    const v = f[n];
    if (v === true) set |= FLAG_BITS[n];
    else if (v === false) clear |= FLAG_BITS[n];
  }
  return { set, clear };
}

export function flagsMatchMasks(set: number, clear: number, p: Packet): boolean {
  if (p.proto !== 'tcp') return true;
  const bits = p.tcpFlags & 0xff;
  return (bits & set) === set && (bits & clear) === 0;
}

export function flagsMatch(door: Door, p: Packet): boolean {
  const { set, clear } = flagMasks(door);
  return flagsMatchMasks(set, clear, p);
}
