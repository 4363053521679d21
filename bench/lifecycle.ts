/**
 * Benchmark for "closing is never refused and SPA is not starved" (issue 9 item 2): while
 * ~SPOOF_RATE spoofed-source COMPLETE classic sequences per second hit the server (each from a
 * new random address, raw packets from the client namespace), valid SPA knocks are made and
 * the daemon-side latency (knock on the wire → first SYN-ACK of the guarded service, both from
 * tcpdump on the server side) is measured; afterwards every lease's close is compared with its
 * expiry (from the audit log) and the journal must be empty.
 * Targets: SPA knock → open daemon-side p90 < 100 ms; no door open later than expiry + 2 s.
 *
 *   sudo node dist/bench/lifecycle.js      (BENCH_RUNS=20, SPOOF_RATE=330, SPOOF_SECONDS=10)
 * Root only; everything runs in two namespaces the script creates and removes.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Lab } from './netns.js';
import { SEQ, setupOurs, SPA_FILTER, setupService, oursSpaClient } from './daemons.js';
import { measureLatency, type Flood } from './scenario.js';
import { Bg, fmtMs, run, sleep, stopAll } from './util.js';
import { writeSection } from './sections.js';

const RUNS = Number(process.env['BENCH_RUNS'] ?? 20);
const RATE = Number(process.env['SPOOF_RATE'] ?? 330);
const SECONDS = Number(process.env['SPOOF_SECONDS'] ?? 10);
const TTL = 5;
const distBench = fileURLToPath(new URL('.', import.meta.url));
const binDir = join(distBench, '..', '..', 'bin');
const log = (m: string): void => { process.stderr.write(`[lifecycle] ${m}\n`); };

/** Complete sequences (TCP SYN 7000, 8000, 9000) from random sources, paced, for `secs` seconds. */
const SPOOFER = `
import socket, struct, random, signal, sys, time
stop = []
for sig in (signal.SIGINT, signal.SIGTERM): signal.signal(sig, lambda *a: stop.append(1))
dst, rate, secs, ports = sys.argv[1], float(sys.argv[2]), float(sys.argv[3]), [int(p) for p in sys.argv[4].split(',')]
s = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_RAW)
d = socket.inet_aton(dst)
def csum(b):
    if len(b) % 2: b += b'\\0'
    t = sum(struct.unpack('!%dH' % (len(b) // 2), b)); t = (t >> 16) + (t & 0xffff); t += t >> 16
    return ~t & 0xffff
def syn(src, sport, dport):
    tcp = struct.pack('!HHIIBBHHH', sport, dport, random.getrandbits(32), 0, 5 << 4, 0x02, 64240, 0, 0)
    c = csum(src + d + struct.pack('!BBH', 0, 6, len(tcp)) + tcp)
    tcp = tcp[:16] + struct.pack('!H', c) + tcp[18:]
    ip = struct.pack('!BBHHHBBH4s4s', 0x45, 0, 20 + len(tcp), 0, 0, 64, 6, 0, src, d)
    return ip + tcp
end = time.time() + secs; sent = 0; t0 = time.time()
while time.time() < end and not stop:
    src = struct.pack('!I', (198 << 24) | (18 << 16) | random.getrandbits(17))
    sp = random.randint(1024, 65535)
    for p in ports: s.sendto(syn(src, sp, p), (dst, 0))
    sent += 1
    lag = t0 + sent / rate - time.time()
    if lag > 0: time.sleep(lag)
el = time.time() - t0
print('%d sequences in %.1f s (%.0f/s)' % (sent, el, sent / el if el > 0 else 0), flush=True)
`;

async function main(): Promise<number> {
  if (process.getuid?.() !== 0) { console.log('lifecycle bench: needs root'); return 77; }
  if ((await run('python3', ['-c', 'import socket'], { timeoutMs: 5000 })).code !== 0) { console.log('lifecycle bench: python3 is needed for the raw-socket spoofer'); return 77; }
  const lab = new Lab({ tag: 'blc' });
  try {
    await lab.create();
    const svc = await setupService(lab);
    void svc;
    const ours = await setupOurs(lab, binDir);
    // a door with a stop command: every spoofed sequence that gets through makes a lease
    const conf = lab.file('lifecycle.conf', [
      '[options]', `    LogFile = ${lab.path('lc.knockd.log')}`, `    AuditLog = ${lab.path('lc.audit.log')}`,
      `    KeysDir = ${lab.path('keys')}`, `    StateDir = ${lab.path('state')}`,
      '[bench]', `    sequence = ${SEQ.join(',')}`, '    tcpflags = syn', '    spa = yes',
      '    start_command = /usr/sbin/iptables -w -C INPUT -s %IP% -p tcp --dport 2222 -j ACCEPT || /usr/sbin/iptables -w -I INPUT 1 -s %IP% -p tcp --dport 2222 -j ACCEPT',
      '    stop_command = ! /usr/sbin/iptables -w -C INPUT -s %IP% -p tcp --dport 2222 -j ACCEPT || /usr/sbin/iptables -w -D INPUT -s %IP% -p tcp --dport 2222 -j ACCEPT',
      `    cmd_timeout = ${TTL}`, '',
    ].join('\n'));
    const daemon = lab.bg('srv', 'ours-lifecycle', process.execPath, [ours.knockd, '-c', conf, '-i', lab.vethSrv]);
    await sleep(1500);
    if (!daemon.alive) throw new Error(`daemon exited: ${daemon.logText().slice(0, 400)}`);
    const spoofer = join(lab.work, 'spoof.py');
    (await import('node:fs')).writeFileSync(spoofer, SPOOFER);
    const flood: Flood = {
      label: `${RATE} spoofed complete sequences/s`,
      start: () => lab.bg('cli', 'spoofer', 'python3', [spoofer, lab.srvIp, String(RATE), String(SECONDS + RUNS * 1.2), SEQ.join(',')]),
      describe: (bg: Bg, s: number) => `${(bg.logText().trim().split('\n').pop() ?? '').trim()} (flood ran ${s.toFixed(1)} s)`,
    };
    const row = await measureLatency(lab, distBench, {
      scenario: 'SPA under spoofed classic sequences', daemon: 'ours (pcap)', daemonBg: daemon, client: oursSpaClient(lab, ours),
      reset: ['ip', 'netns', 'exec', lab.srv, 'sh', '-c', `while iptables -D INPUT -s ${lab.cliIp} -p tcp --dport 2222 -j ACCEPT 2>/dev/null; do :; done`],
      knockFilter: SPA_FILTER, runs: RUNS, openTimeoutMs: 3000, flood,
    });
    log(`latency measured: ${row.opened}/${row.n}`);
    // let every lease expire and close; status while it runs, then stop it (which writes the
    // audit log's pending suppressed-count record) and judge lateness from the audit log
    await sleep((TTL + 8) * 1000);
    const status = await run(process.execPath, [ours.knockd, '-c', conf, 'status', '--json'], { timeoutMs: 15_000 });
    const stillOpen = (JSON.parse(status.stdout || '{"doors":[]}') as { doors: unknown[] }).doors.length;
    await daemon.stop('SIGTERM', 30_000);
    const recs = readFileSync(lab.path('lc.audit.log'), 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l) as Record<string, unknown>);
    const expires = new Map<string, number>();
    for (const r of recs) if ((r.event === 'door.open' || r.event === 'door.extend') && typeof r.lease === 'string') expires.set(r.lease, r.expiresAt as number);
    const late = recs.filter((r) => r.event === 'door.close' && typeof r.lease === 'string').map((r) => (r.time as number) - (expires.get(r.lease as string) ?? (r.time as number)));
    const opens = recs.filter((r) => r.event === 'door.open').length;
    const refused = recs.filter((r) => r.event === 'door.refuse').length + recs.filter((r) => r.event === 'knock.reject.suppressed').reduce((a, r) => a + Number(r.count ?? 0), 0);
    const stopFails = recs.filter((r) => r.event === 'command.fail' && r.command === 'stop').length;
    // leases the journal still owes a stop (put without a later del), after the daemon stopped
    const owedIds = new Set<string>();
    if (existsSync(lab.path('state/leases.log'))) {
      for (const l of readFileSync(lab.path('state/leases.log'), 'utf8').split('\n').filter(Boolean)) {
        const r = JSON.parse(l) as { op: string; id?: string; lease?: { id: string } };
        if (r.op === 'put' && r.lease) owedIds.add(r.lease.id); else if (r.op === 'del' && r.id) owedIds.delete(r.id);
      }
    }
    const owed = owedIds.size;
    const maxLate = late.length ? Math.max(...late) : 0;
    const rows: Array<[string, string]> = [
      ['spoofed complete sequences', row.note ?? ''],
      ['SPA knocks opened', `${row.opened}/${row.n}`],
      ['SPA knock → open, daemon-side median / p90', `${fmtMs(row.daemonMed)} / ${fmtMs(row.daemonP90)} ms`],
      ['SPA knock → open, client-inclusive median / p90', `${fmtMs(row.clientMed)} / ${fmtMs(row.clientP90)} ms`],
      ['doors opened (SPA + classic that the budget let through)', String(opens)],
      ['classic opens refused by the budget (audit door.refuse, incl. suppressed)', String(refused)],
      ['closes: latest after expiry', `${maxLate} ms over ${late.length} closes`],
      ['stop commands failed', String(stopFails)],
      ['doors open after the last expiry (knockd status) / leases the journal owes after the stop', `${stillOpen} / ${owed}`],
    ];
    const ok = row.opened === row.n && (row.daemonP90 ?? Infinity) < 100 && maxLate <= 2000 && stillOpen === 0 && owed === 0;
    const verdict = `verdict: **${ok ? 'MET' : 'NOT MET'}** (targets: SPA daemon-side p90 < 100 ms under the flood, every door closed by expiry + 2 s)`;
    const table = ['| figure | value |', '|---|---|', ...rows.map(([k, v]) => `| ${k} | ${v} |`)].join('\n');
    console.log(`\n${table}\n\n${verdict}`);
    writeSection(process.env['BENCH_OUT'] ?? join(distBench, '..', '..', 'bench', 'RESULTS.md'), 'lifecycle', [
      '## SPA under spoofed classic sequences, closes on time (`npm run bench:lifecycle`, issue 9)', '',
      `${new Date().toISOString()}, node ${process.version}; ${RATE} spoofed complete sequences/s (new random source each, raw packets) while ${RUNS} SPA knocks are made; one door with ClassicOpenRate default, cmd_timeout ${TTL} s, idempotent iptables commands.`, '',
      table, '', verdict,
    ].join('\n'));
    return ok ? 0 : 1;
  } finally {
    await stopAll();
    await lab.destroy(false);
  }
}

main().then((c) => { process.exitCode = c; }, (e: unknown) => { console.error(`lifecycle bench: ${e instanceof Error ? e.stack : String(e)}`); process.exitCode = 1; });
