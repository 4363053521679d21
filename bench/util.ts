/**
 * Small helpers for the benchmark harness: running commands, background processes stopped
 * by PID, statistics and /proc readings. Nothing here talks to the network.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { openSync, closeSync, readFileSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';

export { sleep };

export interface RunResult { code: number | null; signal: NodeJS.Signals | null; stdout: string; stderr: string }

/** Run a command (no shell) to completion with a time limit; never throws for a non-zero exit. */
export function run(cmd: string, args: readonly string[], opts: { timeoutMs?: number; env?: NodeJS.ProcessEnv; input?: string } = {}): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { env: opts.env ?? process.env, stdio: [opts.input === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'] });
    let stdout = '', stderr = '';
    child.stdout?.setEncoding('utf8').on('data', (d: string) => { if (stdout.length < 4_000_000) stdout += d; });
    child.stderr?.setEncoding('utf8').on('data', (d: string) => { if (stderr.length < 1_000_000) stderr += d; });
    const timer = setTimeout(() => { child.kill('SIGKILL'); }, opts.timeoutMs ?? 60_000);
    child.on('error', (e) => { clearTimeout(timer); reject(e); });
    child.on('close', (code, signal) => { clearTimeout(timer); resolve({ code, signal, stdout, stderr }); });
    if (child.stdin) { child.stdin.on('error', () => { /* reader gone */ }); child.stdin.end(opts.input); }
  });
}

/** Like run() but throws with the command's stderr when it fails. */
export async function must(cmd: string, args: readonly string[], opts: { timeoutMs?: number; env?: NodeJS.ProcessEnv; input?: string } = {}): Promise<string> {
  const r = await run(cmd, args, opts);
  if (r.code !== 0) throw new Error(`${cmd} ${args.join(' ')} failed (exit ${r.code ?? r.signal}): ${r.stderr.trim() || r.stdout.trim()}`);
  return r.stdout;
}

/** A background process we started; stopped only through its own PID. */
export class Bg {
  readonly child: ChildProcess;
  readonly name: string;
  readonly log: string;
  private exited = false;
  exitCode: number | null = null;
  private readonly done: Promise<void>;

  constructor(name: string, cmd: string, args: readonly string[], log: string, env?: NodeJS.ProcessEnv) {
    this.name = name;
    this.log = log;
    const fd = openSync(log, 'a');
    try {
      this.child = spawn(cmd, args, { stdio: ['ignore', fd, fd], env: env ?? process.env });
    } finally { closeSync(fd); }
    this.done = new Promise((resolve) => {
      this.child.on('exit', (code) => { this.exited = true; this.exitCode = code; resolve(); });
      this.child.on('error', () => { this.exited = true; resolve(); });
    });
    live.add(this);
  }

  get pid(): number { return this.child.pid ?? -1; }
  get alive(): boolean { return !this.exited; }

  /** SIGTERM (or the given signal), wait up to `ms`, then SIGKILL the same PID. */
  async stop(signal: NodeJS.Signals = 'SIGTERM', ms = 5000): Promise<void> {
    if (!this.exited && this.pid > 0) {
      try { process.kill(this.pid, signal); } catch { /* already gone */ }
      const t = sleep(ms).then(() => 'timeout' as const);
      if ((await Promise.race([this.done.then(() => 'done' as const), t])) === 'timeout' && !this.exited) {
        try { process.kill(this.pid, 'SIGKILL'); } catch { /* gone */ }
        await Promise.race([this.done, sleep(2000)]);
      }
    }
    live.delete(this);
  }

  wait(ms: number): Promise<boolean> {
    return Promise.race([this.done.then(() => true), sleep(ms).then(() => false)]);
  }

  logText(): string { try { return readFileSync(this.log, 'utf8'); } catch { return ''; } }
}

/** Every Bg still running; stopped by PID on cleanup. */
export const live = new Set<Bg>();
export async function stopAll(): Promise<void> {
  for (const b of [...live]) await b.stop('SIGTERM', 3000);
}

// ---- statistics ------------------------------------------------------------------------

export function quantile(xs: readonly number[], p: number): number {
  if (xs.length === 0) return NaN;
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.round(p * (s.length - 1)))] as number;
}
export const median = (xs: readonly number[]): number => quantile(xs, 0.5);

export function fmtMs(x: number | undefined): string {
  if (x === undefined || !Number.isFinite(x)) return '–';
  return x < 10 ? x.toFixed(2) : x < 100 ? x.toFixed(1) : x.toFixed(0);
}

export function fmtRate(x: number): string {
  if (!Number.isFinite(x)) return '–';
  if (x >= 1e6) return `${(x / 1e6).toFixed(2)} M/s`;
  if (x >= 1e3) return `${(x / 1e3).toFixed(1)} k/s`;
  return `${x.toFixed(0)} /s`;
}

// ---- /proc -----------------------------------------------------------------------------

const CLK_TCK = 100;

/**
 * rssAnonKb: RssAnon of /proc/PID/status (private anonymous pages: heap, JS heap, typed arrays);
 * rssFileKb: RssFile (mapped files, mostly the node binary and shared libraries, shared with
 * every other process mapping them); pssAnonKb: Pss_Anon of smaps_rollup (NaN when unreadable).
 */
export interface ProcSample { cpuSelf: number; cpuChildren: number; rssKb: number; hwmKb: number; rssAnonKb: number; rssFileKb: number; pssAnonKb: number }

/** CPU seconds (self, reaped children) and memory of a PID; undefined when it is gone. */
export function procSample(pid: number): ProcSample | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const rest = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    // fields after ')' start at field 3 (state); utime=14 → index 11
    const n = (i: number): number => Number(rest[i] ?? 0);
    const status = readFileSync(`/proc/${pid}/status`, 'utf8');
    const kb = (k: string): number => Number(new RegExp(`^${k}:\\s+(\\d+)`, 'm').exec(status)?.[1] ?? NaN);
    return {
      cpuSelf: (n(11) + n(12)) / CLK_TCK,
      cpuChildren: (n(13) + n(14)) / CLK_TCK,
      rssKb: kb('VmRSS'),
      hwmKb: kb('VmHWM'),
      rssAnonKb: kb('RssAnon'),
      rssFileKb: kb('RssFile'),
      pssAnonKb: pssAnon(pid),
    };
  } catch { return undefined; }
}

function pssAnon(pid: number): number {
  try { return Number(/^Pss_Anon:\s+(\d+)/m.exec(readFileSync(`/proc/${pid}/smaps_rollup`, 'utf8'))?.[1] ?? NaN); } catch { return NaN; }
}

/** Wall clock in ms since the epoch with sub-ms resolution (comparable with tcpdump -tt). */
export const wallMs = (): number => performance.timeOrigin + performance.now();
