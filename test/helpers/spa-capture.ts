/**
 * Capturing SPA datagrams on the wire (tcpdump in the server namespace) and re-sending them
 * from the client namespace, as an attacker on the path would.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { decodeFrame } from '../../src/core/packet/decode.js';
import type { NetnsPair } from './netns.js';

export const SPA_PORT = 62201;

/** Payloads of UDP datagrams to the SPA port in a classic pcap file (Ethernet link). */
export function spaPayloads(pcapFile: string, port = SPA_PORT): Uint8Array[] {
  const b = readFileSync(pcapFile);
  const out: Uint8Array[] = [];
  for (let off = 24; off + 16 <= b.length;) {
    const incl = b.readUInt32LE(off + 8);
    const frame = new Uint8Array(b.subarray(off + 16, off + 16 + incl));
    off += 16 + incl;
    const p = decodeFrame('ETHERNET', frame);
    if (p && p.proto === 'udp' && p.dstPort === port) out.push(p.payload);
  }
  return out;
}

/** Re-send a captured payload from the client namespace. */
export async function resend(pair: NetnsPair, host: string, payload: Uint8Array, port = SPA_PORT): Promise<void> {
  const js = `const d=require('node:dgram').createSocket(process.argv[1].includes(':')?'udp6':'udp4');d.send(Buffer.from(process.argv[2],'hex'),${port},process.argv[1],()=>d.close());`;
  const r = await pair.run(pair.client, process.execPath, ['-e', js, host, Buffer.from(payload).toString('hex')]);
  assert.equal(r.code, 0, r.stderr);
}
