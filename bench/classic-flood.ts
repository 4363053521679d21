/**
 * Issue 14 scenarios (BENCH_ONLY=memory,classic-flood runs only these):
 *
 *  - memory: each daemon freshly started, at rest and after N spoofed first-port hits (memory.ts);
 *  - classic knocks under a spoofed-source SYN flood: hping3 --rand-source -S --flood on the
 *    first port of the 3-port sequence (bounded by timeout(1), stopped by PID), while RUNS valid
 *    knocks are made, for (a) knockd 0.8 + Debian's knock, (b) ours + Debian's knock, (c) ours +
 *    our knock -r N. Each case gets a freshly started daemon.
 *
 * What reached the daemon, honestly: cap exposes no pcap_stats and the kernel does not count
 * packet-ring overflows in the socket's sk_drops (checked: `ss -0 -m` shows d0 while tcpdump's
 * pcap_stats reports 99% dropped), so the scenario counts both ends itself:
 *  - arrived: an iptables rule without target in the server namespace's raw PREROUTING chain
 *    counts the SYNs to the first port that reached the server's IP layer. Packet taps run just
 *    before it on the same path (checked: equal to tcpdump's "packets received by filter");
 *  - seen: knockd 0.8 logs "<src>: <door>: Stage 1" for every first-port hit its matcher gets
 *    (every spoofed source is new); log-counter.ts counts those lines in the part of the LogFile
 *    (a regular file, as in production) written from the flood's start on. Ours limits those
 *    lines (50/s, burst 200) so a flood cannot fill the disk; for ours, seen = the capture's own
 *    frame counter, read with SIGUSR2 (one 'memory usage' line with `capture.frames`) before the
 *    flood and after the drain.
 * Capture loss = 1 - seen/arrived over the flood window (the legit knocks' own first hits, at
 * most RUNS x copies, are inside both counts); frames to user space per second = seen / flood
 * seconds. Loss includes every place a frame can be lost between the IP layer and the matcher:
 * the kernel ring overflowing (the daemon too slow) is the dominant one.
 */
import { spawnSync } from 'node:child_process';
import { rmSync, writeFileSync } from 'node:fs';
import type { Lab } from './netns.js';
import { measureLatency, type Flood, type LatencyRow } from './scenario.js';
import { knockClient, resetSeqRule, SEQ, SEQ_FILTER, startKnockd, startOurs, type Ours } from './daemons.js';
import { hpingSent } from './flood.js';
import { HeapProbe, memoryTest, type MemRow } from './memory.js';
import { countStage1, logSize } from './log-counter.js';
import { type Bg, fmtMs, fmtRate, sleep } from './util.js';

export interface ClassicRow {
  daemon: string;
  client: string;
  lat: LatencyRow;
  floodSent?: number;
  floodS?: number;
  arrived?: number;
  seen?: number;
  /** what the daemon logged for the legitimate client during the flood, e.g. "stage 1: 20, stage 2: 14, ..." */
  legit?: string;
}

/** Count the legitimate client's log lines by kind ("Stage 2", "OPEN SESAME", ...). */
function legitSummary(lines: readonly string[]): string {
  const n = new Map<string, number>();
  for (const l of lines) {
    const m = /: (Stage \d+|OPEN SESAME|sequence timeout)/.exec(l);
    const k = m?.[1] ?? 'other';
    n.set(k, (n.get(k) ?? 0) + 1);
  }
  return [...n].map(([k, v]) => `${k}: ${v}`).join(', ');
}

export interface Issue14Ctx {
  lab: Lab;
  distBench: string;
  only: ReadonlySet<string>;
  runs: number;
  openTimeoutMs: number;
  memHits: number;
  maxAttempts: number;
  /** copies per hit for our client (-r), and ms after each copy (-d; 0 = none) */
  repeat: number;
  repeatDelayMs: number;
  /** which classic-flood cases run: knockd, ours-debian, ours-repeat (default all) */
  cases?: ReadonlySet<string>;
  /** our daemon, set up (undefined = not available) */
  ours: Ours | undefined;
  log(msg: string): void;
}

/** V8 flag that caps the young generation (semi-space) at 1 MB, as systemd/knockd.service runs the daemon; default max is 16 MB (Node 20, 64-bit). */
export const SEMI_FLAG = '--max-semi-space-size=1';
export const MEM_SEMI_NOTE = `Under any sustained flood V8 grows its young generation towards its maximum (Node 20: 16 MB semi-spaces, up to 3 of
them), whatever the matcher keeps; the second row of ours runs the same daemon with node ${SEMI_FLAG}, as the shipped systemd unit
(and the Debian package's) runs it, to separate that from the attempt table.`;

const RULE = (lab: Lab): string[] => ['-d', lab.srvIp, '-p', 'tcp', '--dport', String(SEQ[0]), '--tcp-flags', 'SYN', 'SYN'];

/** Packets counted by our raw PREROUTING rule (synchronous: called from Flood.start/describe). */
function arrived(lab: Lab): number | undefined {
  const r = spawnSync('ip', ['netns', 'exec', lab.srv, 'iptables', '-t', 'raw', '-L', 'PREROUTING', '-v', '-x', '-n'], { encoding: 'utf8', timeout: 10_000 });
  const line = r.stdout?.split('\n').find((l) => l.includes(`tcp dpt:${SEQ[0]}`) && l.includes(lab.srvIp));
  const n = Number(line?.trim().split(/\s+/)[0]);
  return Number.isFinite(n) ? n : undefined;
}

let seq = 0;

/** Our daemon's capture frame counter: SIGUSR2 makes it log one 'memory usage' line with `capture`. */
async function captureFrames(d: Bg): Promise<number | undefined> {
  const before = d.logText().length;
  try { process.kill(d.pid, 'SIGUSR2'); } catch { return undefined; }
  for (let i = 0; i < 100; i++) {
    const m = /\{[^\n]*"msg":"memory usage"[^\n]*\}/.exec(d.logText().slice(before))?.[0];
    if (m) return (JSON.parse(m) as { capture?: { frames?: number } }).capture?.frames;
    await sleep(20);
  }
  return undefined;
}

/** One case: fresh daemon with its own LogFile, flood + RUNS knocks, counters around the flood. */
async function classicRun(ctx: Issue14Ctx, daemon: string, client: string, argv: string[], start: (logFile: string) => Promise<Bg>): Promise<ClassicRow> {
  const { lab } = ctx;
  const id = `cf${++seq}`;
  const logFile = lab.path(`${id}.knockd.log`);
  let d: Bg | undefined;
  const row: ClassicRow = { daemon, client, lat: { scenario: 'classic knock under spoofed SYN flood', daemon, n: 0, opened: 0 } };
  try {
    d = await start(logFile);
    await lab.mustExec('srv', 'iptables', ['-t', 'raw', '-I', 'PREROUTING', ...RULE(lab)]);
    let a0: number | undefined, s0 = 0;
    // ours: the capture's frame counter (its Stage lines are rate-limited); knockd: Stage 1 lines
    const f0 = daemon.startsWith('ours') ? await captureFrames(d) : undefined;
    const limitS = Math.ceil(15 + ctx.runs * (0.9 + ctx.openTimeoutMs / 1000));
    const flood: Flood = {
      label: 'spoofed-source SYN flood',
      start: () => {
        a0 = arrived(lab); s0 = logSize(logFile);
        return lab.bg('cli', `${id}-hping`, 'timeout', ['-s', 'INT', '-k', '3', String(limitS), 'hping3', '--rand-source', '-S', '--flood', '-q', '-p', String(SEQ[0]), lab.srvIp]);
      },
      describe: (bg, s) => {
        const a1 = arrived(lab);
        row.floodS = s;
        const sent = hpingSent(bg.logText());
        if (sent !== undefined) row.floodSent = sent;
        if (a0 !== undefined && a1 !== undefined) row.arrived = a1 - a0;
        return sent === undefined ? 'hping3 sent ? (no statistics)' : `flood ${sent.toLocaleString('en')} SYNs in ${s.toFixed(1)} s (${fmtRate(sent / s)})`;
      },
    };
    ctx.log(`${daemon} + ${client}: ${ctx.runs} knocks under a spoofed-source SYN flood on port ${SEQ[0]}`);
    row.lat = await measureLatency(lab, ctx.distBench, { scenario: 'classic knock under spoofed SYN flood', daemon, daemonBg: d, client: argv, reset: resetSeqRule(lab), knockFilter: SEQ_FILTER, runs: ctx.runs, openTimeoutMs: ctx.openTimeoutMs, flood });
    await sleep(500);    // let the daemon drain its ring before counting
    const c = countStage1(logFile, s0, `${lab.cliIp}: `);
    row.seen = c.stage1;
    if (f0 !== undefined) {
      const f1 = await captureFrames(d);
      if (f1 !== undefined) row.seen = f1 - f0; else delete row.seen;
    }
    row.legit = legitSummary(c.collected);
    writeFileSync(lab.path(`${id}-client-lines.log`), c.collected.join('\n') + '\n');   // kept with BENCH_KEEP=1
  } finally {
    if (d) await d.stop();
    await lab.exec('srv', 'iptables', ['-t', 'raw', '-D', 'PREROUTING', ...RULE(lab)]);
    rmSync(logFile, { force: true });   // millions of lines
  }
  return row;
}

export async function issue14Section(ctx: Issue14Ctx): Promise<{ memory: MemRow[]; classic: ClassicRow[]; notes: string[] }> {
  const { lab } = ctx;
  const memory: MemRow[] = [], classic: ClassicRow[] = [], notes: string[] = [];
  const o = ctx.ours;
  const ourOpts = ['-r', String(ctx.repeat), ...(ctx.repeatDelayMs > 0 ? ['-d', String(ctx.repeatDelayMs)] : [])];
  const ourClient = o ? [process.execPath, o.knock, ...ourOpts, lab.srvIp, ...SEQ.map(String)] : [];
  const knockd = async (logFile?: string): Promise<Bg> => {
    const kd = startKnockd(lab, logFile);
    await sleep(1000);
    if (!kd.alive) throw new Error(`knockd exited: ${kd.logText().slice(0, 300)}`);
    return kd;
  };
  if (ctx.only.has('memory')) {
    try {
      const kd = await knockd();
      try { memory.push(await memoryTest(lab, ctx.distBench, { daemon: 'knockd 0.8', bg: kd, client: knockClient(lab), hits: ctx.memHits })); } finally { await kd.stop(); }
    } catch (e) { notes.push(`knockd memory test: ${(e as Error).message}`); }
    // ours as bin/knockd starts it, and with V8's young generation capped (see MEM_SEMI_NOTE)
    for (const [label, flags] of o ? [['ours (pcap)', []], [`ours (pcap), node ${SEMI_FLAG}`, [SEMI_FLAG]]] as const : []) {
      try {
        const probe = new HeapProbe(lab.path(`heap-probe-${flags.length}`));
        const d = await startOurs(lab, o as Ours, 'pcap', { nodeArgs: [...flags, ...probe.nodeArgs(ctx.distBench)], env: probe.env() });
        try {
          memory.push(await memoryTest(lab, ctx.distBench, { daemon: label, bg: d, client: [process.execPath, (o as Ours).knock, lab.srvIp, ...SEQ.map(String)], hits: ctx.memHits, cap: ctx.maxAttempts, probe }));
        } finally { await d.stop(); }
      } catch (e) { notes.push(`our memory test (${label}): ${(e as Error).message}`); }
    }
  }
  if (ctx.only.has('classic-flood')) {
    const want = (k: string): boolean => ctx.cases === undefined || ctx.cases.has(k);
    const cases: Array<[string, string, string[], (f: string) => Promise<Bg>]> = [];
    if (want('knockd')) cases.push(['knockd 0.8', "Debian's knock", knockClient(lab), knockd]);
    if (o) {
      if (want('ours-debian')) cases.push(['ours (pcap)', "Debian's knock", knockClient(lab), (f) => startOurs(lab, o, 'pcap', { logFile: f })]);
      if (want('ours-repeat')) cases.push(['ours (pcap)', `our knock ${ourOpts.join(' ')}`, ourClient, (f) => startOurs(lab, o, 'pcap', { logFile: f })]);
    } else notes.push('classic flood: our daemon not available');
    for (const [daemon, client, argv, start] of cases) {
      try { classic.push(await classicRun(ctx, daemon, client, argv, start)); } catch (e) { notes.push(`classic flood ${daemon} + ${client}: ${(e as Error).message}`); }
    }
  }
  return { memory, classic, notes };
}

// ---- report ----------------------------------------------------------------------------------

export const CLASSIC_HEAD = ['daemon', 'client', 'opened', 'client-incl. ms med / p90', 'daemon-side ms med / p90', 'flood SYNs sent (rate)',
  'first-port SYNs at the server', 'reached the matcher', 'capture loss', 'frames to user space /s', 'daemon CPU s', 'note'];

export function classicRows(rows: readonly ClassicRow[]): string[][] {
  return rows.map((r) => {
    const loss = r.arrived && r.seen !== undefined ? `${(100 * (1 - r.seen / r.arrived)).toFixed(1)} %` : '–';
    const rate = r.seen !== undefined && r.floodS ? fmtRate(r.seen / r.floodS) : '–';
    const sent = r.floodSent !== undefined && r.floodS ? `${r.floodSent.toLocaleString('en')} (${fmtRate(r.floodSent / r.floodS)})` : '–';
    const note = [(r.lat.note ?? '').replace(/;?\s*flood [\d,]+ SYNs in [\d.]+ s \([^)]*\)/, ''), r.legit ? `logged for the client: ${r.legit}` : '']
      .filter(Boolean).join('; ');
    return [r.daemon, r.client, `${r.lat.opened}/${r.lat.n}`, `${fmtMs(r.lat.clientMed)} / ${fmtMs(r.lat.clientP90)}`, `${fmtMs(r.lat.daemonMed)} / ${fmtMs(r.lat.daemonP90)}`,
      sent, r.arrived?.toLocaleString('en') ?? '–', r.seen?.toLocaleString('en') ?? '–', loss, rate, r.lat.cpuS?.toFixed(2) ?? '–', note];
  });
}

type Verdict = { target: string; verdict: 'met' | 'not met' | 'not measured'; figures: string };

export function classicVerdicts(rows: readonly ClassicRow[], runs: number, ran: boolean): Verdict[] {
  const find = (d: string, c: RegExp) => rows.find((r) => r.daemon === d && c.test(r.client) && r.lat.n > 0);
  const kd = find('knockd 0.8', /Debian/), od = find('ours (pcap)', /Debian/), oo = find('ours (pcap)', /our knock/);
  const why = ran ? 'scenario did not run' : 'not run (BENCH_ONLY)';
  const t1 = `classic knocks under a spoofed-source SYN flood, ours + our knock -r: >= ${runs - 1}/${runs} open`;
  const t2 = "classic knocks under a spoofed-source SYN flood, ours + Debian's knock: at least as many open as knockd 0.8 + Debian's knock";
  const fig = (r: ClassicRow | undefined): string => (r ? `${r.daemon} + ${r.client} ${r.lat.opened}/${r.lat.n}` : 'missing');
  return [
    oo ? { target: t1, verdict: oo.lat.opened >= runs - 1 && oo.lat.n === runs ? 'met' : 'not met', figures: fig(oo) } : { target: t1, verdict: 'not measured', figures: why },
    od && kd ? { target: t2, verdict: od.lat.opened >= kd.lat.opened ? 'met' : 'not met', figures: `${fig(od)}; ${fig(kd)}` } : { target: t2, verdict: 'not measured', figures: why },
  ];
}
