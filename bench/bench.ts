/**
 * `npm run bench`: knock → port reachable latency, behaviour under floods, memory under a
 * spoofed first-port flood and hot-path throughput — our daemon side by side with Debian
 * knockd 0.8 and fwknopd 2.6.10, all inside two network namespaces created here and removed
 * afterwards (also on failure and on SIGINT). Prints one table and writes bench/RESULTS.md.
 *
 * Environment:
 *   BENCH_RUNS=N        knocks per latency measurement (default 20; BENCH_QUICK default 8)
 *   BENCH_QUICK=1       ~4-minute run: fewer runs, 50,000 memory hits, shorter micro-benchmarks
 *   BENCH_MEM_HITS=N    spoofed first-port hits for the memory test (default 200,000)
 *   BENCH_ONLY=a,b      subset of: knockd,fwknopd,ours,memory,flood,classic-flood,micro
 *                       (memory,classic-flood = issue 14's scenarios alone, bench/classic-flood.ts)
 *   BENCH_REPEAT=N      copies per hit for our client in the classic flood scenario (knock -r N, default 6)
 *   BENCH_REPEAT_DELAY=MS  ms after each copy (knock -d MS, default 10; 0 = back to back)
 *   BENCH_CLASSIC=a,b   classic flood cases: knockd,ours-debian,ours-repeat (default all)
 *   BENCH_BIN_DIR=D    directory holding our knockd/knock launchers (default <repo>/bin)
 *   BENCH_KEEP=1        keep the work directory (logs, configs) and print its path
 *   BENCH_CPUS=a,b      CPU layouts for the knock → open latency scenarios (default shared,pinned):
 *                       shared = unpinned; pinned = server namespace on CPU 1, client on CPU 0
 *                       (taskset; needs >= 2 CPUs, else reported as not available). Floods and
 *                       the memory test always run shared.
 *   BENCH_OUT=FILE      where to write the results (default <repo>/bench/RESULTS.md); use a
 *                       scratch path for partial or checking runs
 */
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { writeFileSync, existsSync } from 'node:fs';
import { cpus, totalmem } from 'node:os';
import { Lab, CPU_LAYOUTS, pinSupport, type CpuLayout, type PinSupport } from './netns.js';
import { measureLatency, commandCost, type CmdCost, type LatencyRow, type Flood } from './scenario.js';
import { DEFAULT_MAX_ATTEMPTS } from '../src/core/config/types.js';
import { hpingFloodArgs, hpingSent, forgeryFromSample, type FloodSpec } from './flood.js';
import {
  SEQ, SPA_PORT, SEQ_FILTER, SPA_FILTER, START_CMD, setupService, resetSeqRule, version, startKnockd, knockClient,
  setupFwknop, startFwknopd, probeOurs, setupOurs, startOurs, oursSeqClient, oursSpaClient, sampleSpa, type Ours,
} from './daemons.js';
import { microAll, type MicroRow } from './micro.js';
import { memoryRows, memoryVerdict, MEM_HEAD, type MemRow } from './memory.js';
import { classicRows, classicVerdicts, CLASSIC_HEAD, issue14Section, MEM_SEMI_NOTE, type ClassicRow } from './classic-flood.js';
import { Bg, fmtMs, fmtRate, must, run, sleep, stopAll } from './util.js';
import { keepSections, mdTable } from './sections.js';

const distBench = dirname(fileURLToPath(import.meta.url));
const distRoot = join(distBench, '..');
/** The repository root: the nearest ancestor of the build output that holds package.json. */
function findRepoRoot(from: string): string {
  let d = from;
  while (!existsSync(join(d, 'package.json')) && dirname(d) !== d) d = dirname(d);
  return d;
}
const repoRoot = findRepoRoot(distRoot);

const QUICK = process.env['BENCH_QUICK'] === '1';
const RUNS = Number(process.env['BENCH_RUNS'] ?? (QUICK ? 5 : 20));
const MEM_HITS = Number(process.env['BENCH_MEM_HITS'] ?? (QUICK ? 50_000 : 200_000));
const ONLY = new Set((process.env['BENCH_ONLY'] ?? 'knockd,fwknopd,ours,memory,flood,classic-flood,micro').split(',').map((s) => s.trim()));
const REPEAT = Number(process.env['BENCH_REPEAT'] ?? 6);
const REPEAT_DELAY = Number(process.env['BENCH_REPEAT_DELAY'] ?? 10);
const MICRO_MS = QUICK ? 250 : 700;
const FLOOD_OPEN_TIMEOUT = QUICK ? 2000 : 3000;
const CPUS_REQ = (process.env['BENCH_CPUS'] ?? CPU_LAYOUTS.join(',')).split(',').map((s) => s.trim()).filter(Boolean);
/** Latency layouts that actually run (pinned drops out when pinSupport() says no). */
let LAT_LAYOUTS: CpuLayout[] = [];
let pin: PinSupport | undefined;

const latency: LatencyRow[] = [];
const floods: LatencyRow[] = [];
let memory: MemRow[] = [];
let classic: ClassicRow[] = [];
let micro: MicroRow[] = [];
const notes: string[] = [];
const cmdCosts: CmdCost[] = [];

function log(msg: string): void { process.stderr.write(`[bench] ${msg}\n`); }

function unavailable(rows: LatencyRow[], scenario: string, daemon: string, reason: string, cpus?: CpuLayout): void {
  rows.push({ scenario, daemon, cpus, n: 0, opened: 0, note: `${daemon} not available: ${reason}` });
}

// ---- CPU layouts -----------------------------------------------------------------------------

/**
 * The layouts one daemon instance is started in, in order: shared when a latency run or a
 * flood / memory test needs it, then pinned. The daemon is restarted per layout so it is
 * started under taskset (its children inherit the affinity).
 */
function phases(needShared: boolean): CpuLayout[] {
  const out: CpuLayout[] = [];
  if (needShared || LAT_LAYOUTS.includes('shared')) out.push('shared');
  if (LAT_LAYOUTS.includes('pinned')) out.push('pinned');
  return out;
}

let service: Bg | undefined;
async function enter(lab: Lab, layout: CpuLayout): Promise<void> {
  await lab.setLayout(layout, service ? [{ pid: service.pid, side: 'srv' }] : []);
  log(`CPU layout: ${lab.describeLayout()}`);
}

// ---- floods ------------------------------------------------------------------------------

/** Upper bound for one flood: every run may wait its full open timeout; stopped by PID as soon as the runs end. */
function floodSeconds(): number { return Math.ceil(15 + RUNS * (0.9 + FLOOD_OPEN_TIMEOUT / 1000)); }

function hpingFlood(lab: Lab): Flood {
  return {
    label: 'junk UDP (hping3 --flood)',
    start: () => lab.bg('cli', `hping-${Date.now()}`, 'timeout', hpingFloodArgs({ host: lab.srvIp, port: SPA_PORT, from: lab.floodIp, size: 204, timeLimitS: floodSeconds() }).slice(1)),
    describe: (bg, s) => {
      const sent = hpingSent(bg.logText());
      return sent === undefined ? 'hping3 sent ? (no statistics)' : `junk flood ${sent.toLocaleString('en')} datagrams in ${s.toFixed(1)} s (${fmtRate(sent / s)})`;
    },
  };
}

function nodeFlood(lab: Lab, label: string, spec: Omit<FloodSpec, 'host' | 'port' | 'bind' | 'count' | 'timeLimitMs'>): Flood {
  const full: FloodSpec = { ...spec, host: lab.srvIp, port: SPA_PORT, bind: lab.floodIp, count: 20_000_000, timeLimitMs: floodSeconds() * 1000 };
  return {
    label,
    start: () => lab.bg('cli', `flood-${Date.now()}`, process.execPath, [join(distBench, 'worker.js'), 'flood', JSON.stringify(full)]),
    describe: (bg, s) => {
      const m = /"sent":(\d+)/.exec(bg.logText());
      const sent = m ? Number(m[1]) : undefined;
      return sent === undefined ? `${label}: sent ?` : `${label} ${sent.toLocaleString('en')} datagrams in ${s.toFixed(1)} s (${fmtRate(sent / s)})`;
    },
  };
}

// ---- main ----------------------------------------------------------------------------------

async function main(lab: Lab): Promise<void> {
  await lab.create();
  log(`lab ${lab.srv} / ${lab.cli}, work ${lab.work}`);
  service = await setupService(lab);
  // the command's own time, in every latency layout (no daemon running yet)
  for (const layout of LAT_LAYOUTS) {
    await enter(lab, layout);
    try { cmdCosts.push(await commandCost(lab, START_CMD, lab.testIp, 20)); } catch (e) { notes.push(`command own time (${layout}) not measured: ${(e as Error).message}`); }
  }
  const wantLat = (layout: CpuLayout): boolean => LAT_LAYOUTS.includes(layout);

  // (b) knockd: latency
  if (ONLY.has('knockd')) {
    for (const layout of phases(false)) {
      await enter(lab, layout);
      const kd = startKnockd(lab);
      await sleep(1000);
      try {
        if (!kd.alive) throw new Error(`knockd exited: ${kd.logText().slice(0, 300)}`);
        if (wantLat(layout)) {
          log(`knockd: sequence latency (${layout})`);
          latency.push(await measureLatency(lab, distBench, { scenario: 'sequence knock', daemon: 'knockd 0.8', daemonBg: kd, client: knockClient(lab), reset: resetSeqRule(lab), knockFilter: SEQ_FILTER, runs: RUNS, openTimeoutMs: 3000 }));
        }
      } catch (e) { unavailable(latency, 'sequence knock', 'knockd', (e as Error).message, layout); }
      finally { await kd.stop(); }
    }
  }

  // (c, d) fwknopd: pcap and UDP-server latency; floods
  if (ONLY.has('fwknopd')) {
    try {
      const fw = await setupFwknop(lab);
      for (const mode of ['pcap', 'udp'] as const) {
        const name = `fwknopd ${mode === 'udp' ? 'UDP-server' : 'pcap'}`;
        for (const layout of phases(ONLY.has('flood'))) {
          await enter(lab, layout);
          const d = await startFwknopd(lab, mode);
          try {
            const base = { daemon: name, daemonBg: d, client: fw.client, clientEnv: fw.env, reset: fw.reset, knockFilter: SPA_FILTER };
            if (wantLat(layout)) {
              log(`${name}: SPA latency (${layout})`);
              latency.push(await measureLatency(lab, distBench, { ...base, scenario: 'SPA knock', runs: RUNS, openTimeoutMs: 3000 }));
            }
            if (layout === 'shared' && ONLY.has('flood')) {
              log(`${name}: junk flood`);
              floods.push(await measureLatency(lab, distBench, { ...base, scenario: 'SPA under junk flood', runs: RUNS, openTimeoutMs: FLOOD_OPEN_TIMEOUT, flood: hpingFlood(lab) }));
              log(`${name}: forgery flood (random base64, fails HMAC)`);
              floods.push(await measureLatency(lab, distBench, { ...base, scenario: 'SPA under forgery flood', runs: RUNS, openTimeoutMs: FLOOD_OPEN_TIMEOUT, flood: nodeFlood(lab, 'b64 forgeries', { kind: 'b64', size: 204 }) }));
            }
          } finally { await d.stop(); }
        }
      }
    } catch (e) { unavailable(latency, 'SPA knock', 'fwknopd', (e as Error).message, lab.layout); }
  }

  // (f) ours
  const mine = ONLY.has('memory') || ONLY.has('classic-flood');
  let o: Ours | undefined;
  if (ONLY.has('ours') || mine) {
    const binDir = process.env['BENCH_BIN_DIR'] ?? join(repoRoot, 'bin');
    const p = await probeOurs(binDir);
    if (!p.ok) {
      unavailable(latency, 'sequence / SPA knock', 'our daemon', p.reason);
      notes.push(`our daemon not available: ${p.reason}`);
    } else {
      ourVersion = p.version;
      try { o = await setupOurs(lab, binDir); } catch (e) { unavailable(latency, 'setup', 'our daemon', (e as Error).message); }
      if (o && ONLY.has('ours')) {
        for (const mode of ['pcap', 'socket'] as const) {
          const name = `ours (${mode})`;
          for (const layout of phases(ONLY.has('flood'))) {
            let d: Bg | undefined;
            try {
              await enter(lab, layout);
              d = await startOurs(lab, o, mode);
              const base = { daemon: name, daemonBg: d, client: oursSpaClient(lab, o), reset: resetSeqRule(lab), knockFilter: SPA_FILTER };
              if (wantLat(layout)) {
                if (mode === 'pcap') {
                  log(`${name}: sequence latency (${layout})`);
                  latency.push(await measureLatency(lab, distBench, { scenario: 'sequence knock', daemon: name, daemonBg: d, client: oursSeqClient(lab, o), reset: resetSeqRule(lab), knockFilter: SEQ_FILTER, runs: RUNS, openTimeoutMs: 3000 }));
                }
                log(`${name}: SPA latency (${layout})`);
                latency.push(await measureLatency(lab, distBench, { ...base, scenario: 'SPA knock', runs: RUNS, openTimeoutMs: 3000 }));
              }
              if (layout === 'shared' && ONLY.has('flood')) {
                log(`${name}: junk flood`);
                floods.push(await measureLatency(lab, distBench, { ...base, scenario: 'SPA under junk flood', runs: RUNS, openTimeoutMs: FLOOD_OPEN_TIMEOUT, flood: hpingFlood(lab) }));
                const sample = await sampleSpa(lab, o);
                if (!sample) unavailable(floods, 'SPA under forgery flood', name, 'no SPA datagram captured for the forgery template', layout);
                else {
                  const tpl = forgeryFromSample(sample);
                  log(`${name}: forgery flood (real key id ${sample.subarray(4, 12).toString('hex')}, ${sample.length} B)`);
                  floods.push(await measureLatency(lab, distBench, { ...base, scenario: 'SPA under forgery flood', runs: RUNS, openTimeoutMs: FLOOD_OPEN_TIMEOUT, flood: nodeFlood(lab, 'forgeries (real key id)', { kind: 'template', ...tpl }) }));
                }
              }
            } catch (e) { unavailable(latency, 'SPA knock', name, (e as Error).message, layout); }
            finally { if (d) await d.stop(); }
          }
        }
      }
    }
  }
  await enter(lab, 'shared');
  // (g) issue 14: memory at the attempt cap, classic knocks under a spoofed-source SYN flood
  if (mine) {
    const r = await issue14Section({ lab, distBench, only: ONLY, runs: RUNS, openTimeoutMs: FLOOD_OPEN_TIMEOUT, memHits: MEM_HITS,
      maxAttempts: DEFAULT_MAX_ATTEMPTS, repeat: REPEAT, repeatDelayMs: REPEAT_DELAY, ours: o, log,
      ...(process.env['BENCH_CLASSIC'] ? { cases: new Set(process.env['BENCH_CLASSIC'].split(',').map((x) => x.trim())) } : {}) });
    memory = r.memory; classic = r.classic; notes.push(...r.notes);
  }
}

let ourVersion = 'not available';

// ---- report ----------------------------------------------------------------------------------

const table = mdTable;

function latRows(rows: LatencyRow[], withLoad: boolean, withCpus = false): string[][] {
  return rows.map((r) => [r.scenario, r.daemon, ...(withCpus ? [r.cpus ?? '–'] : []), `${r.opened}/${r.n}`,
    `${fmtMs(r.clientMed)} / ${fmtMs(r.clientP90)}`, `${fmtMs(r.daemonMed)} / ${fmtMs(r.daemonP90)}`,
    ...(withLoad ? [r.cpuS === undefined ? '–' : r.cpuS.toFixed(2), r.hwmMb === undefined ? '–' : r.hwmMb.toFixed(1)] : []),
    r.note ?? '']);
}

async function machine(): Promise<string[]> {
  const kernel = (await run('uname', ['-r'])).stdout.trim();
  const model = cpus()[0]?.model ?? 'unknown';
  const hping = (await run('hping3', ['--version'])).stdout.split('\n')[0]?.trim() ?? '';
  return [
    `- date: ${new Date().toISOString()}`,
    `- machine: ${cpus().length} CPUs (nproc), ${model}, ${(totalmem() / 2 ** 30).toFixed(1)} GiB RAM, kernel ${kernel}`,
    `- node ${process.version}; knockd: ${await version('knockd', ['--version'])}; fwknopd: ${await version('fwknopd', ['--version'])}; fwknop client: ${await version('fwknop', ['--version'])}`,
    `- ${hping}; our daemon: ${ourVersion}`,
    `- settings: runs=${RUNS}, memory hits=${MEM_HITS}, quick=${QUICK ? 'yes' : 'no'}, flood open timeout ${FLOOD_OPEN_TIMEOUT} ms`,
  ];
}

// ---- targets ---------------------------------------------------------------------------------

interface Verdict { target: string; verdict: 'met' | 'not met' | 'not measured'; figures: string }

const ms = (x: number | undefined): string => `${fmtMs(x)} ms`;
const finite = (x: number | undefined): x is number => x !== undefined && Number.isFinite(x);

/** SPA daemon-side median minus the start command's own time (direct exec), for one layout. */
function spaNet(layout: CpuLayout): { row?: LatencyRow; cost?: CmdCost; net?: number; text: string } {
  const row = latency.find((r) => r.scenario === 'SPA knock' && r.daemon === 'ours (pcap)' && r.cpus === layout && r.n > 0);
  const cost = cmdCosts.find((c) => c.layout === layout);
  if (!row) return { text: `${layout}: not measured` };
  if (!cost) return { row, text: `${layout}: daemon-side median ${ms(row.daemonMed)}, command own time not measured` };
  if (!finite(row.daemonMed)) return { row, cost, text: `${layout}: no knock opened (${row.opened}/${row.n})` };
  const net = row.daemonMed - cost.directMs;
  return { row, cost, net, text: `${layout}: daemon-side median ${ms(row.daemonMed)} − iptables own time ${ms(cost.directMs)} = ${ms(net)} (− \`/bin/sh -c\` own time ${ms(cost.shMs)}: ${ms(row.daemonMed - cost.shMs)})` };
}

function targets(): Verdict[] {
  const out: Verdict[] = [];
  // 1. SPA knock → open, daemon side, pinned, minus the command's own time
  {
    const p = spaNet('pinned'), sh = spaNet('shared');
    const t = 'SPA knock → open, ours (pcap), daemon-side median minus the command\'s own time < 5 ms (pinned layout)';
    let reason = '';
    if (!LAT_LAYOUTS.includes('pinned')) reason = pin && !pin.ok ? `pinned layout not available: ${pin.reason}` : 'pinned layout not run (BENCH_CPUS)';
    else if (!ONLY.has('ours')) reason = 'our daemon not run (BENCH_ONLY)';
    if (reason || !p.row || !p.cost) out.push({ target: t, verdict: 'not measured', figures: `${reason || p.text}; ${sh.text}` });
    else if (p.net === undefined) out.push({ target: t, verdict: 'not met', figures: `${p.text}; ${sh.text}` });
    else out.push({ target: t, verdict: p.net < 5 ? 'met' : 'not met', figures: `${p.text}; ${sh.text}` });
  }
  // 2, 3. valid knocks under floods, ours (pcap)
  for (const [scenario, label] of [['SPA under junk flood', 'junk flood'], ['SPA under forgery flood', 'forgery flood']] as const) {
    const t = `valid SPA knocks under ${label}, ours (pcap): all ${RUNS} open and daemon-side p90 < 50 ms`;
    const r = floods.find((x) => x.scenario === scenario && x.daemon === 'ours (pcap)');
    if (!r || r.n === 0) { out.push({ target: t, verdict: 'not measured', figures: r?.note ?? (ONLY.has('flood') && ONLY.has('ours') ? 'scenario did not run' : 'not run (BENCH_ONLY)') }); continue; }
    const ok = r.opened === r.n && r.n === RUNS && finite(r.daemonP90) && r.daemonP90 < 50;
    const lost = /not opened: [^;]*/.exec(r.note ?? '')?.[0];
    out.push({ target: t, verdict: ok ? 'met' : 'not met', figures: `opened ${r.opened}/${r.n}, daemon-side p90 ${ms(r.daemonP90)} (median ${ms(r.daemonMed)})${lost ? `; ${lost}` : ''}` });
  }
  // 4. memory under spoofed first-port hits; classic knocks under a spoofed SYN flood (issue 14)
  out.push(memoryVerdict(memory, ONLY.has('memory')));
  out.push(...classicVerdicts(classic, RUNS, ONLY.has('classic-flood')));
  // 5. hot path: forgery rejection vs raw HMAC
  {
    const t = 'hot path: forgery rejection rate / raw HMAC rate >= 0.5';
    const hmac = micro.find((r) => r.id === 'hmac')?.rate;
    const forg = micro.filter((r) => r.id === 'forge-ed' || r.id === 'forge-hm');
    if (!finite(hmac) || forg.length === 0 || !forg.every((r) => finite(r.rate))) out.push({ target: t, verdict: 'not measured', figures: ONLY.has('micro') ? 'our verifier rows missing' : 'not run (BENCH_ONLY)' });
    else {
      const ratios = forg.map((r) => ({ r, x: r.rate / hmac }));
      out.push({ target: t, verdict: ratios.every((q) => q.x >= 0.5) ? 'met' : 'not met',
        figures: ratios.map((q) => `${q.r.id === 'forge-ed' ? 'Ed25519-key forgery (mac1)' : 'HMAC-key forgery (tag)'} ${fmtRate(q.r.rate)} / ${fmtRate(hmac)} = ${q.x.toFixed(2)}`).join('; ') });
    }
  }
  return out;
}

function costText(): string[] {
  if (cmdCosts.length === 0) return ['- not measured'];
  return cmdCosts.map((c) => `- ${c.where}: direct ${ms(c.directMs)}, via \`/bin/sh -c\` ${ms(c.shMs)}, \`/bin/true\` ${ms(c.trueMs)} (medians of ${c.n})`);
}

async function report(): Promise<string> {
  const lh = ['scenario', 'daemon', 'CPUs', 'opened', 'client-incl. ms med / p90', 'daemon-side ms med / p90', 'note'];
  const fh = ['scenario', 'daemon', 'opened', 'client-incl. ms med / p90', 'daemon-side ms med / p90', 'daemon CPU s', 'peak RSS MB', 'flood'];
  const uh = ['operation', 'rate', 'note'];
  const th = ['target', 'verdict', 'figures'];
  const pinText = pin === undefined ? 'not checked' : pin.ok ? `server namespace on CPU ${pin.srvCpu}, client namespace on CPU ${pin.cliCpu}` : `not available: ${pin.reason}`;
  const out = [
    '# knockd-ts benchmark results', '',
    ...(await machine()), '',
    '## Targets', '',
    'Computed from the figures below (daemon-side, pcap mode; the command\'s own time is the direct',
    '`iptables` exec measured in the same layout).', '',
    table(th, targets().map((v) => [v.target, v.verdict, v.figures])), '',
    'Latency = knock → TCP port reachable. *client-incl.*: from starting the client process until a',
    'TCP connect succeeds (includes process start: ~120 ms of Node for our client). *daemon-side*: from',
    'the knock packet\'s capture timestamp in the server namespace (tcpdump -tt, µs; last packet of a',
    'sequence) to the first SYN-ACK the server sent, in the same capture, to a back-to-back probe loop',
    'of TCP connects (until the rule is in, the probes get a RST): both ends on the server\'s wire',
    'clock, so client start-up and client-side scheduling are not counted. All grants are a single',
    '`iptables -I INPUT` (fwknopd: its native iptables chain).', '',
    `CPU layouts run: ${LAT_LAYOUTS.join(', ') || 'none'} (pinned: ${pinText}).`,
    '*shared*: nothing pinned — the client, the probe loop and the daemon under test compete for all',
    'CPUs, as on one test box.',
    '*pinned*: every server-side process (daemon under test, its start commands, the protected',
    'service) runs under `taskset` on the server CPU, every client-side process (knock client, probe',
    'loop, resets) on the client CPU, as client and server are separate machines in a deployment; the',
    'measurement instrument (the tcpdump that timestamps the knocks in the server namespace) runs on',
    'the client CPU so it does not take CPU time from the daemon. The daemon is restarted per layout.',
    'Kernel packet processing (veth, netfilter) is not pinned. Pinned, the whole server side has one',
    'CPU: the daemon and the command it spawns share it. Client-inclusive figures get worse when',
    'pinned: client and probe loop share one CPU. Floods and the memory test run shared.', '',
    `The command's own time: \`${cmdCosts[0]?.command ?? START_CMD}\` (the daemons' start command for an`,
    'address no client uses) timed inside the server namespace by one bash process with $EPOCHREALTIME',
    '(no `ip netns exec`, no timing fork; in the pinned layout bash runs on the server CPU), the rule',
    'deleted between runs (untimed):',
    ...costText(), '',
    '## Knock → open', '', table(lh, latRows(latency, false, true)), '',
    `## Under flood (CPUs shared; valid knocks opened out of ${RUNS}, per-knock limit ${FLOOD_OPEN_TIMEOUT} ms)`, '',
    'Junk: hping3 --flood, 204-byte random UDP payloads to the SPA port from a second client address.',
    'Forgery: fwknopd gets random base64 (passes its cheap checks, fails HMAC); ours gets a real datagram',
    'of our client with nonce, mac1 and signature re-randomised per packet (real enrolled key id).',
    'CPU = daemon self + reaped children over the measured window; peak RSS = VmHWM.', '',
    floods.length ? table(fh, latRows(floods, true)) : '(not run)', '',
    `## Memory at rest and after spoofed-source first-port hits (CPUs shared; hping3 --rand-source -S -p ${SEQ[0]} --faster; each daemon freshly started)`, '',
    'RssAnon = private anonymous memory (/proc/PID/status); RssFile = mapped files (for Node mostly the node binary, shared with other',
    'node processes). V8 heap used and ArrayBuffers: our daemon, read in-process after two forced full collections by bench/heap-probe.js',
    '(preloaded with --expose-gc --import, answers on request through a file; no signal, no inspector).', MEM_SEMI_NOTE, '',
    memory.length ? table(MEM_HEAD, memoryRows(memory)) : '(not run)', '',
    `## Classic knocks under a spoofed-source SYN flood (CPUs shared; hping3 --rand-source -S --flood -p ${SEQ[0]}; valid knocks opened out of ${RUNS}, per-knock limit ${FLOOD_OPEN_TIMEOUT} ms)`, '',
    'First-port SYNs at the server: counted by an iptables rule in the server namespace (raw PREROUTING, right after the packet taps).',
    'Reached the matcher: knockd 0.8, the "Stage 1" lines it logged (every spoofed source is new) from the flood\'s start on; ours, the',
    'frames its capture handed over (counter read with SIGUSR2; its Stage lines are limited to 50/s). Capture loss =',
    '1 - reached/at the server over the flood window: frames lost between the IP layer and the daemon\'s matcher, almost all of them',
    'to the kernel capture ring overflowing because the daemon is slower than the flood. Frames to user space /s = reached / flood',
    `seconds. Our client sends every hit ${REPEAT} times, ${REPEAT_DELAY} ms apart (knock -r ${REPEAT} -d ${REPEAT_DELAY}); daemon-side latency then counts`,
    'from the last copy sent before the port opened.', '',
    classic.length ? table(CLASSIC_HEAD, classicRows(classic)) : '(not run)', '',
    '## In-process hot path (single thread)', '',
    micro.length ? table(uh, micro.map((m) => [m.op, fmtRate(m.rate), m.note ?? ''])) : '(not run)', '',
    ...(notes.length ? ['## Notes', '', ...notes.map((n) => `- ${n}`), ''] : []),
  ];
  return out.join('\n');
}

// ---- entry -----------------------------------------------------------------------------------

async function entry(): Promise<number> {
  if (process.getuid?.() !== 0) { process.stderr.write('bench: needs root (network namespaces, iptables inside them)\n'); return 77; }
  const badCpus = CPUS_REQ.filter((c) => !(CPU_LAYOUTS as readonly string[]).includes(c));
  if (badCpus.length || CPUS_REQ.length === 0) { process.stderr.write(`bench: BENCH_CPUS must list ${CPU_LAYOUTS.join(', ')} (got ${process.env['BENCH_CPUS'] ?? ''})\n`); return 64; }
  await must('ip', ['netns', 'list']);
  pin = await pinSupport();
  LAT_LAYOUTS = CPU_LAYOUTS.filter((l) => CPUS_REQ.includes(l) && (l !== 'pinned' || pin?.ok === true));
  if (CPUS_REQ.includes('pinned') && !pin.ok) {
    notes.push(`pinned CPU layout not available: ${pin.reason}`);
    unavailable(latency, 'all latency scenarios', 'pinned layout', pin.reason, 'pinned');
  }
  const lab = new Lab({ tag: 'bh8' });
  const keep = process.env['BENCH_KEEP'] === '1';
  let cleaning: Promise<void> | undefined;
  const cleanup = async (): Promise<void> => {
    cleaning ??= (async () => {
      await stopAll();
      const n = await lab.destroy(keep);
      for (const x of n) notes.push(x);
      if (keep) log(`work directory kept: ${lab.work}`);
    })();
    return cleaning;
  };
  const onSig = (sig: NodeJS.Signals): void => {
    log(`${sig}: cleaning up`);
    void cleanup().finally(() => process.exit(130));
  };
  process.on('SIGINT', onSig);
  process.on('SIGTERM', onSig);
  const t0 = performance.now();
  try {
    if (ONLY.has('micro')) {
      log('micro-benchmarks');
      // 79 bytes = what mac1 covers for a door named 'bench' (74-byte header + 5)
      micro = microAll(MICRO_MS, 3, 79);
    }
    await main(lab);
  } catch (e) {
    notes.push(`run aborted: ${(e as Error).message}`);
    log(`error: ${(e as Error).stack ?? e}`);
  } finally {
    await cleanup();
  }
  notes.push(`total run time ${((performance.now() - t0) / 1000).toFixed(0)} s`);
  const text = await report();
  process.stdout.write(`\n${text}\n`);
  const out = process.env['BENCH_OUT'] ?? join(repoRoot, 'bench', 'RESULTS.md');
  writeFileSync(out, keepSections(out, text + '\n'));   // sections other benchmarks own stay
  log(`wrote ${out}`);
  return 0;
}

process.exitCode = await entry();
