/**
 * One latency measurement: knock client in the client namespace, port probe, reset, and the
 * wire timestamps of the knocks; optionally while a flood runs. Daemon CPU and peak RSS are
 * read from /proc around the measured runs.
 */
import { join } from 'node:path';
import type { Lab } from './netns.js';
import { KnockCapture, daemonSide } from './capture.js';
import { Bg, median, quantile, procSample, run, sleep } from './util.js';

export interface LatencyRow {
  scenario: string;
  daemon: string;
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
    return { scenario: s.scenario, daemon: s.daemon, n: s.runs, opened: 0, note: 'warm-up knock did not open the port (daemon not working in this setup)' };
  }
  const cap = await KnockCapture.start(lab, `cap-${s.daemon}-${s.scenario}`.replace(/[^\w.-]+/g, '_'), `src host ${lab.cliIp} and (${s.knockFilter})`);
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
  const ts = await cap.stop();
  const opened = out.runs.filter((r) => r.tOpen !== null);
  const client = opened.map((r) => (r.tOpen as number) - r.t0);
  const ds = daemonSide(out.runs, ts).filter((x): x is number => x !== undefined);
  const row: LatencyRow = {
    scenario: s.scenario, daemon: s.daemon, n: out.runs.length, opened: opened.length,
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
  if (ds.length < opened.length) notes.push(`${opened.length - ds.length} runs without a captured knock`);
  if (s.flood && floodBg) notes.push(s.flood.describe(floodBg, floodS));
  if (!s.daemonBg.alive) notes.push(`daemon exited (code ${s.daemonBg.exitCode})`);
  if (notes.length) row.note = notes.join('; ');
  return row;
}

/** Median wall time of a command in the server namespace (the "command's own time"). */
export async function commandCost(lab: Lab, argv: string[], undo: string[], n = 21): Promise<{ cmdMs: number; execMs: number }> {
  const xs: number[] = [], ys: number[] = [];
  for (let i = 0; i < n; i++) {
    let t = performance.now();
    await lab.exec('srv', argv[0] as string, argv.slice(1));
    xs.push(performance.now() - t);
    await lab.exec('srv', undo[0] as string, undo.slice(1));
    // the cost of `ip netns exec true`, interleaved, for comparison
    t = performance.now();
    await lab.exec('srv', 'true', []);
    ys.push(performance.now() - t);
  }
  return { cmdMs: median(xs), execMs: median(ys) };
}

export { run };
