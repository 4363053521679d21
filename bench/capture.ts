/**
 * Knock → open timestamps from the wire: tcpdump in the server namespace, microsecond timestamps
 * (`-tt --time-stamp-precision=micro`), line-buffered text. Also a tiny classic-pcap reader
 * to pull one UDP payload out of a capture (used to sample a real SPA datagram).
 */
import { readFileSync } from 'node:fs';
import type { Lab } from './netns.js';
import { Bg, sleep } from './util.js';

export class KnockCapture {
  private readonly bg: Bg;
  private constructor(bg: Bg) { this.bg = bg; }

  /**
   * Start tcpdump on the server veth for packets matching `filter`; waits until it listens.
   * It is a measurement instrument: in the pinned layout it runs on the client CPU, so it
   * does not take CPU time from the daemon under test.
   */
  static async start(lab: Lab, name: string, filter: string): Promise<KnockCapture> {
    const bg = lab.bg('srv', name, 'tcpdump', ['-i', lab.vethSrv, '-n', '-l', '-tt', '--time-stamp-precision=micro', '-B', '8192', filter], undefined, { cpu: 'cli' });
    for (let i = 0; i < 50; i++) {
      if (/listening on/.test(bg.logText())) return new KnockCapture(bg);
      if (!bg.alive) break;
      await sleep(100);
    }
    await bg.stop('SIGINT');
    throw new Error(`tcpdump did not start: ${bg.logText().slice(0, 300)}`);
  }

  /**
   * Stop tcpdump (SIGINT, by PID) and return the timestamps (ms since the epoch) of the knock
   * packets and of the SYN-ACKs the server sent from `openFrom` ("ip.port"): the first SYN-ACK
   * after a knock is the moment the port was open on the wire.
   */
  async stop(openFrom: string): Promise<{ knocks: number[]; synAcks: number[] }> {
    await sleep(200);
    await this.bg.stop('SIGINT');
    const knocks: number[] = [], synAcks: number[] = [];
    for (const line of this.bg.logText().split('\n')) {
      const m = /^(\d+)\.(\d{6}) IP6? (\S+) > /.exec(line);
      if (!m) continue;
      const t = Number(m[1]) * 1000 + Number(m[2]) / 1000;
      if (m[3] === openFrom) { if (/Flags \[S\.\]/.test(line)) synAcks.push(t); } else knocks.push(t);
    }
    return { knocks, synAcks };
  }
}

/** tcpdump filter: the knocks from the client, or the server's SYN-ACKs from the probed port. */
export function captureFilter(cliIp: string, knockFilter: string, srvIp: string, port: number): string {
  return `(src host ${cliIp} and (${knockFilter})) or (src host ${srvIp} and dst host ${cliIp} and tcp src port ${port} and tcp[tcpflags] & (tcp-syn|tcp-ack) == (tcp-syn|tcp-ack))`;
}

/**
 * Daemon-side latency per run, all on the server's wire clock: the last knock packet in
 * [t0 - slack, tOpen] to the first SYN-ACK after it (the port answering a probe). undefined when
 * the run did not open or a packet is missing from the capture.
 */
export function daemonSide(runs: ReadonlyArray<{ t0: number; tOpen: number | null }>, cap: { knocks: readonly number[]; synAcks: readonly number[] }, slackMs = 5): Array<number | undefined> {
  return runs.map((r) => {
    if (r.tOpen === null) return undefined;
    let knock: number | undefined;
    for (const t of cap.knocks) if (t >= r.t0 - slackMs && t <= r.tOpen && (knock === undefined || t > knock)) knock = t;
    if (knock === undefined) return undefined;
    let open: number | undefined;
    for (const t of cap.synAcks) if (t > knock && t <= r.tOpen + slackMs && (open === undefined || t < open)) open = t;
    return open === undefined ? undefined : open - knock;
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
