/**
 * Knock timestamps from the wire: tcpdump in the server namespace, microsecond timestamps
 * (`-tt --time-stamp-precision=micro`), line-buffered text. Also a tiny classic-pcap reader
 * to pull one UDP payload out of a capture (used to sample a real SPA datagram).
 */
import { readFileSync } from 'node:fs';
import type { Lab } from './netns.js';
import { Bg, sleep } from './util.js';

export class KnockCapture {
  private readonly bg: Bg;
  private constructor(bg: Bg) { this.bg = bg; }

  /** Start tcpdump on the server veth for packets matching `filter`; waits until it listens. */
  static async start(lab: Lab, name: string, filter: string): Promise<KnockCapture> {
    const bg = lab.bg('srv', name, 'tcpdump', ['-i', lab.vethSrv, '-n', '-l', '-tt', '--time-stamp-precision=micro', '-B', '8192', filter]);
    for (let i = 0; i < 50; i++) {
      if (/listening on/.test(bg.logText())) return new KnockCapture(bg);
      if (!bg.alive) break;
      await sleep(100);
    }
    await bg.stop('SIGINT');
    throw new Error(`tcpdump did not start: ${bg.logText().slice(0, 300)}`);
  }

  /** Stop tcpdump (SIGINT, by PID) and return the packet timestamps in ms since the epoch. */
  async stop(): Promise<number[]> {
    await sleep(200);
    await this.bg.stop('SIGINT');
    const ts: number[] = [];
    for (const line of this.bg.logText().split('\n')) {
      const m = /^(\d+)\.(\d{6}) /.exec(line);
      if (m) ts.push(Number(m[1]) * 1000 + Number(m[2]) / 1000);
    }
    return ts;
  }
}

/** For each run, the last knock packet seen in [t0 - slack, tOpen]: daemon-side latency = tOpen - it. */
export function daemonSide(runs: ReadonlyArray<{ t0: number; tOpen: number | null }>, ts: readonly number[], slackMs = 5): Array<number | undefined> {
  return runs.map((r) => {
    if (r.tOpen === null) return undefined;
    let best: number | undefined;
    for (const t of ts) if (t >= r.t0 - slackMs && t <= r.tOpen && (best === undefined || t > best)) best = t;
    return best === undefined ? undefined : r.tOpen - best;
  });
}

/** UDP payloads of a classic (microsecond or nanosecond) pcap file with Ethernet frames, IPv4. */
export function pcapUdpPayloads(file: string): Buffer[] {
  const data = readFileSync(file);
  if (data.length < 24) return [];
  const magic = data.readUInt32LE(0);
  const le = magic === 0xa1b2c3d4 || magic === 0xa1b23c4d;
  const u32 = (o: number): number => (le ? data.readUInt32LE(o) : data.readUInt32BE(o));
  const out: Buffer[] = [];
  let off = 24;
  while (off + 16 <= data.length) {
    const incl = u32(off + 8);
    off += 16;
    const frame = data.subarray(off, off + incl);
    off += incl;
    if (frame.length < 14 + 20 + 8 || frame.readUInt16BE(12) !== 0x0800) continue;
    const ip = frame.subarray(14);
    const ihl = ((ip[0] as number) & 0x0f) * 4;
    if (ip[9] !== 17) continue;
    const udp = ip.subarray(ihl);
    const len = udp.readUInt16BE(4);
    out.push(Buffer.from(udp.subarray(8, len)));
  }
  return out;
}
