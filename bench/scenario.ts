/**
 * One latency measurement: knock client in the client namespace, port probe, reset, and the
 * wire timestamps of the knocks; optionally while a flood runs. Daemon CPU and peak RSS are
 * read from /proc around the measured runs.
 */
import { join } from 'node:path';
import type { CpuLayout, Lab } from './netns.js';
import { KnockCapture, captureFilter, daemonSide } from './capture.js';
import { Bg, median, quantile, procSample, run, sleep } from './util.js';

export interface LatencyRow {
  scenario: string;
  daemon: string;
  /** CPU layout the scenario ran in (floods and memory: always 'shared'). */
  cpus?: CpuLayout;
  n: number;
  opened: number;
  clientMed?: number;
  clientP90?: number;
  daemonMed?: number;
  daemonP90?: number;
  cpuS?: number;
  hwmMb?: number;
  note?: string;
}

export interface Flood { label: string; start(): Bg; describe(bg: Bg, seconds: number): string }

export interface LatencySpec {
  scenario: string;
  daemon: string;
  daemonBg: Bg;
  client: string[];
  clientEnv?: Record<string, string>;
  /** argv run from the client namespace that removes the grant (usually `ip netns exec <srv> ...`). */
  reset: string[];
  /** tcpdump filter for the knock packets (the source filter is added here). */
  knockFilter: string;
  runs: number;
  openTimeoutMs: number;
  flood?: Flood;
}

export const workerJs = (distBench: string): string => join(distBench, 'worker.js');

async function worker(lab: Lab, distBench: string, spec: object, timeoutMs: number): Promise<{ runs: Array<{ t0: number; t1: number; tOpen: number | null; code: number | null }>; warmupOpened: boolean }> {
  const r = await lab.exec('cli', process.execPath, [workerJs(distBench), 'latency', JSON.stringify(spec)], { timeoutMs });
  const line = r.stdout.trim().split('\n').pop() ?? '';
  if (r.code !== 0 || !line.startsWith('{')) throw new Error(`latency worker failed (exit ${r.code ?? r.signal}): ${r.stderr.trim().slice(0, 400)}`);
  return JSON.parse(line) as ReturnType<typeof worker> extends Promise<infer T> ? T : never;
}

export async function measureLatency(lab: Lab, distBench: string, s: LatencySpec): Promise<LatencyRow> {
  const base = { host: lab.srvIp, port: 2222, client: s.client, clientEnv: s.clientEnv, reset: s.reset, sleepMinMs: 300, sleepMaxMs: 800 };
  // warm-up (also the readiness check): one knock must open before anything is measured
  const w = await worker(lab, distBench, { ...base, runs: 0, warmup: 1, openTimeoutMs: 3000 }, 60_000);
  if (!w.warmupOpened) {
    return { scenario: s.scenario, daemon: s.daemon, cpus: lab.layout, n: s.runs, opened: 0, note: 'warm-up knock did not open the port (daemon not working in this setup)' };
  }
  const cap = await KnockCapture.start(lab, `cap-${s.daemon}-${s.scenario}`.replace(/[^\w.-]+/g, '_'), captureFilter(lab.cliIp, s.knockFilter, lab.srvIp, base.port));
  let floodBg: Bg | undefined;
  let floodStart = 0;
  const before = procSample(s.daemonBg.pid);
  let out: Awaited<ReturnType<typeof worker>>;
  try {
    if (s.flood) {
      floodBg = s.flood.start();
      floodStart = performance.now();
      await sleep(1000);
    }
    out = await worker(lab, distBench, { ...base, runs: s.runs, warmup: 0, openTimeoutMs: s.openTimeoutMs }, 20_000 + s.runs * (s.openTimeoutMs + 5000));
  } finally {
    if (floodBg) await floodBg.stop('SIGINT', 5000);
  }
  const floodS = (performance.now() - floodStart) / 1000;
  const after = procSample(s.daemonBg.pid);
  const ts = await cap.stop(`${lab.srvIp}.${base.port}`);
  const opened = out.runs.filter((r) => r.tOpen !== null);
  const client = opened.map((r) => (r.tOpen as number) - r.t0);
  const ds = daemonSide(out.runs, ts).filter((x): x is number => x !== undefined);
  const row: LatencyRow = {
    scenario: s.scenario, daemon: s.daemon, cpus: lab.layout, n: out.runs.length, opened: opened.length,
    clientMed: median(client), clientP90: quantile(client, 0.9),
    daemonMed: median(ds), daemonP90: quantile(ds, 0.9),
  };
  if (before && after) {
    row.cpuS = after.cpuSelf + after.cpuChildren - before.cpuSelf - before.cpuChildren;
    row.hwmMb = after.hwmKb / 1024;
  }
  const notes: string[] = [];
  const bad = out.runs.filter((r) => r.code !== 0).length;
  if (bad) notes.push(`${bad} client runs exited non-zero`);
  if (ds.length < opened.length) notes.push(`${opened.length - ds.length} runs without a captured knock or SYN-ACK`);
  // A knock that opened nothing: did it reach the server's interface at all? tcpdump taps the
  // server veth where the daemon's pcap does; a datagram missing there was dropped before any
  // daemon could see it (veth backlog full under the flood), not rejected by the daemon.
  const failed = out.runs.filter((r) => r.tOpen === null);
  if (failed.length > 0) {
    const unseen = failed.filter((r) => !ts.knocks.some((t) => t >= r.t0 - 5 && t <= r.t1 + s.openTimeoutMs)).length;
    notes.push(`not opened: ${failed.length} (${unseen} of them never reached the server's interface: dropped in the kernel before any capture)`);
  }
  if (s.flood && floodBg) notes.push(s.flood.describe(floodBg, floodS));
  if (!s.daemonBg.alive) notes.push(`daemon exited (code ${s.daemonBg.exitCode})`);
  if (notes.length) row.note = notes.join('; ');
  return row;
}

export interface CmdCost {
  layout: CpuLayout;
  /** Where it ran, e.g. "pinned (server CPU 1, client CPU 0)". */
  where: string;
  n: number;
  /** Medians in ms: the start command exec'd directly, via `/bin/sh -c`, and `/bin/true`. */
  directMs: number;
  shMs: number;
  trueMs: number;
  command: string;
}

/**
 * The command's own time, measured inside the server namespace by one bash process (pinned to
 * the server CPU in the pinned layout) with $EPOCHREALTIME around each command, so neither
 * `ip netns exec` nor a timing fork is counted: `n` runs of the daemons' start command (for
 * `testIp`, an address no client uses, so the probe port stays closed), exec'd directly and
 * via `/bin/sh -c` (as knockd 0.8's system() does), plus `/bin/true` (the bare exec cost).
 * The inserted rule is deleted between runs, untimed (`iptables -D` is slow). One untimed
 * warm-up round first.
 */
export async function commandCost(lab: Lab, startCmdTemplate: string, testIp: string, n = 20): Promise<CmdCost> {
  if (!/^[\w./%: -]+$/.test(startCmdTemplate) || !/^[\d.]+$/.test(testIp)) throw new Error('commandCost: unexpected characters in the start command');
  const cmd = startCmdTemplate.replace(/%IP%/g, testIp);
  const del = cmd.replace(/ -I INPUT 1 /, ' -D INPUT ');
  if (del === cmd) throw new Error(`commandCost: cannot derive the delete command from ${cmd}`);
  const script = [
    'LC_ALL=C; export LC_ALL',
    `N=${n}`,
    `read -ra CMD <<< '${cmd}'`,
    `read -ra DEL <<< '${del}'`,
    'undo() { while "${DEL[@]}" 2>/dev/null; do :; done; }',
    'undo',
    'for ((i = -1; i < N; i++)); do',
    '  a=$EPOCHREALTIME; "${CMD[@]}"; rc=$?; b=$EPOCHREALTIME; [ $i -ge 0 ] && echo "direct $a $b $rc"; undo',
    `  a=$EPOCHREALTIME; /bin/sh -c '${cmd}'; rc=$?; b=$EPOCHREALTIME; [ $i -ge 0 ] && echo "sh $a $b $rc"; undo`,
    '  a=$EPOCHREALTIME; /bin/true; rc=$?; b=$EPOCHREALTIME; [ $i -ge 0 ] && echo "true $a $b $rc"',
    'done',
    'undo',
  ].join('\n');
  const out = await lab.mustExec('srv', 'bash', ['-c', script], { timeoutMs: 60_000 + n * 3000, env: { ...process.env, LC_ALL: 'C' } });
  const xs: Record<string, number[]> = { direct: [], sh: [], true: [] };
  // $EPOCHREALTIME is "seconds.microseconds": subtract as integers of µs (exact)
  const us = (t: string): number => { const [sec, frac = '0'] = t.split('.'); return Number(sec) * 1e6 + Number(frac.padEnd(6, '0').slice(0, 6)); };
  for (const line of out.split('\n')) {
    const m = /^(direct|sh|true) (\d+\.\d+) (\d+\.\d+) (\d+)$/.exec(line.trim());
    if (!m) continue;
    if (m[4] !== '0') throw new Error(`commandCost: ${m[1]} run exited ${m[4]}`);
    xs[m[1] as string]?.push((us(m[3] as string) - us(m[2] as string)) / 1000);
  }
  for (const [k, v] of Object.entries(xs)) if (v.length !== n) throw new Error(`commandCost: ${v.length}/${n} ${k} timings parsed`);
  return { layout: lab.layout, where: lab.describeLayout(), n, directMs: median(xs['direct'] ?? []), shMs: median(xs['sh'] ?? []), trueMs: median(xs['true'] ?? []), command: cmd };
}

export { run };
