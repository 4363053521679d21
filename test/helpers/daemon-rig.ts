/**
 * The whole daemon (src/daemon/daemon.ts) as a normal user: real config parsing, journal,
 * audit log, knockd log, key directory and replay store in a temporary directory; an in-memory
 * capture, a fake firewall (fake-firewall.ts), a fake nftables (fake-nft.ts) and a fake clock
 * (fake-time.ts). Tests push
 * packets, move time, reload, and read what the daemon wrote.
 */
import { chmodSync, copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startDaemon, type DaemonHandle } from '../../src/daemon/daemon.js';
import type { CapturePort, DaemonPorts } from '../../src/daemon/ports.js';
import type { LogLevel } from '../../src/core/engine/effects.js';
import type { Packet } from '../../src/core/types.js';
import { parseIp } from '../../src/core/ip.js';
import { loadConfig } from '../../src/io/read-config.js';
import { Journal } from '../../src/io/journal.js';
import { createAuditLog } from '../../src/io/audit-log.js';
import { createKnockdLog } from '../../src/io/knockd-log.js';
import { loadKeys } from '../../src/io/keys-load.js';
import { ReplayStore } from '../../src/io/replay-store.js';
import { consumeOneTimeSequence } from '../../src/io/ots-file.js';
import { writeFileAtomic } from '../../src/io/safe-file.js';
import { parseClientKey } from '../../src/core/keys/client.js';
import { signerFor } from '../../src/core/spa/sign.js';
import { encodeRequest } from '../../src/core/spa/wire.js';
import { FakeFirewall } from './fake-firewall.js';
import { FakeNft } from './fake-nft.js';
import { FakeTime } from './fake-time.js';
import { fixture } from './paths.js';

export const SERVER = '10.9.0.1';

export class MemoryCapture implements CapturePort {
  readonly linkType = 'ETHERNET';
  readonly filters: string[] = [];
  closed = false;
  refuse: string | undefined;
  onPacket: ((p: Packet, rxMs: number) => void) | undefined;
  constructor(filter: string) { this.filters.push(filter); }
  setFilter(expr: string): void {
    if (this.refuse) throw new Error(this.refuse);
    this.filters.push(expr);
  }
  close(): void { this.closed = true; }
}

export function packet(src: string, proto: 'tcp' | 'udp', dstPort: number, payload: Uint8Array = new Uint8Array(0), dst = SERVER): Packet {
  const s = parseIp(src), d = parseIp(dst);
  if (!s || !d) throw new Error('bad address');
  return { family: s.family, src: s.text, dst: d.text, srcBytes: s.bytes, dstBytes: d.bytes, proto, srcPort: 40000, dstPort, tcpFlags: proto === 'tcp' ? 0x02 : 0, payload };
}

export const DOORS = `[ssh]
\tspa = yes
\tstart_command = fw -C ssh-%IP% || fw -I ssh-%IP%
\tstop_command = ! fw -C ssh-%IP% || fw -D ssh-%IP%
\tcmd_timeout = 10
[classic]
\tsequence = 7000,8000:udp,9000
\tstart_command = fw -I classic-%IP%
\tstop_command = fw -D classic-%IP%
\tcmd_timeout = 5
`;

export interface Rig {
  dir: string; conf: string; keys: string; state: string; auditFile: string; logFile: string;
  time: FakeTime; fw: FakeFirewall; nft: FakeNft; capture: () => MemoryCapture;
  logs: Array<{ level: LogLevel; msg: string; fields: Readonly<Record<string, unknown>> }>;
  out: string[];
  d: DaemonHandle;
  ports: DaemonPorts;
  writeConfig(doors?: string, extra?: string): void;
  start(): DaemonHandle;
  records(event?: string): Array<Record<string, unknown>>;
  knock(src: string, p?: { door?: string; ttl?: number; allowIp?: string; at?: number }): void;
  classic(src: string): void;
  cleanup(): Promise<void>;
}

const alice = parseClientKey(readFileSync(fixture('keys', 'client', 'alice.key'), 'utf8'), 'alice.key');

export function rig(doors = DOORS, extra = ''): Rig {
  const dir = mkdtempSync(join(tmpdir(), 'kts-rig-'));
  chmodSync(dir, 0o700);
  const r: Partial<Rig> & Pick<Rig, 'dir'> = { dir };
  const keys = join(dir, 'keys'), state = join(dir, 'state');
  mkdirSync(keys, { mode: 0o700 });
  const time = new FakeTime();
  const fw = new FakeFirewall();
  const nft = new FakeNft(() => time.now);
  let cap: MemoryCapture | undefined;
  const logs: Rig['logs'] = [];
  const out: string[] = [];
  const rg: Rig = Object.assign(r, {
    conf: join(dir, 'knockd.conf'), keys, state, auditFile: join(dir, 'audit.log'), logFile: join(dir, 'knockd.log'),
    time, fw, nft, logs, out,
    capture: () => { if (!cap) throw new Error('capture was not opened'); return cap; },
    writeConfig(ds = doors, ex = extra) {
      writeFileSync(rg.conf, `[options]\n\tLogFile = ${rg.logFile}\n\tAuditLog = ${rg.auditFile}\n\tStateDir = ${state}\n\tKeysDir = ${keys}\n${ex}\n${ds}`);
    },
    start() { rg.d = startDaemon(rg.ports, { configPath: rg.conf, iface: 'eth0' }); return rg.d; },
    records(event?: string) {
      if (!existsSync(rg.auditFile)) return [];
      return readFileSync(rg.auditFile, 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l) as Record<string, unknown>)
        .filter((x) => event === undefined || x['event'] === event);
    },
    knock(src: string, p: { door?: string; ttl?: number; allowIp?: string; at?: number } = {}) {
      const ip = parseIp(p.allowIp ?? src), server = parseIp(SERVER);
      if (!ip || !server) throw new Error('bad address');
      const payload = encodeRequest({ timestampMs: p.at ?? time.now, nonce: crypto.getRandomValues(new Uint8Array(16)), ttl: p.ttl ?? 0, allowIp: ip, serverIp: server, door: p.door ?? 'ssh' }, signerFor(alice));
      rg.capture().onPacket?.(packet(src, 'udp', 62201, payload), time.now);
    },
    classic(src: string) {
      for (const [proto, port] of [['tcp', 7000], ['udp', 8000], ['tcp', 9000]] as const) rg.capture().onPacket?.(packet(src, proto, port), time.now);
    },
    async cleanup() {
      try { await rg.d?.stop('SIGTERM'); } catch { /* already stopped */ }
      rmSync(dir, { recursive: true, force: true });
    },
  }) as Rig;
  rg.ports = {
    now: () => time.now,
    setTimer: time.setTimer,
    loadConfig,
    localAddrs: () => [SERVER],
    openCapture: (o) => { cap = new MemoryCapture(o.filter); cap.onPacket = o.onPacket; return cap; },
    runner: fw,
    openNft: nft.open,
    openJournal: (d) => Journal.open(d),
    openAudit: (p) => createAuditLog(p, { now: () => time.now, fsync: () => undefined }),
    openKnockdLog: (f) => createKnockdLog({ useSyslog: false, verbose: false, ...(f ? { logFile: f } : {}), now: () => new Date(time.now) }),
    logger: { log: (level, fields, msg) => { logs.push({ level, msg, fields }); } },
    loadKeys,
    writeAck: (d, ack) => writeFileAtomic(join(d, 'keyring.ack'), JSON.stringify(ack), { code: 'ERR_STATE' }),
    openReplay: (d, windowMs) => ReplayStore.open(d, { windowMs, now: () => time.now }),
    consumeOts: (path, used) => consumeOneTimeSequence(path, used).next,
    out: (s) => { out.push(s); },
    pid: 4242,
  };
  rg.writeConfig();
  return rg;
}

/** Enrol the TEST-ONLY key alice (test/fixtures/keys) into the rig's KeysDir. */
export function enrolAlice(r: Rig): void {
  const dst = join(r.keys, 'alice.key');
  copyFileSync(fixture('keys', 'server', 'alice.key'), dst);
  chmodSync(dst, 0o600);
}
