/**
 * CommandRunner: door commands are started by a small long-lived bash child (the "runner"),
 * not by the daemon itself.
 *
 * Why: forking the ~90 MB daemon costs ~7 ms per command; the ~4 MB bash forks cheaply
 * (`iptables -I` ~4 ms vs ~2.6 ms from a shell, bench/RESULTS.md). It is also the seam where
 * the firewall-changing half of the daemon could later be split off (privilege separation).
 *
 * Semantics kept from exec.ts (knockd's system(3) + our robustness):
 * - a command runs as `/bin/sh -c "<command>"`. When the command is a plain list of words of a
 *   safe character set whose first word is not a shell builtin or keyword (planCommand), the
 *   runner executes the words itself; /bin/sh would parse such a line into exactly the same
 *   argv, so only one exec is saved;
 * - every command runs in its own process group (bash job control, `set -m`), so a time limit
 *   kills it with everything it started; stdin and stdout are /dev/null; a bounded tail of
 *   stderr is kept. Commands running at the same time share one stderr pipe, so a tail may also
 *   hold lines of a command that ran concurrently;
 * - at most `maxRunning` commands run at once; the rest wait in priority lanes (stop commands
 *   first, never refused, with reserved places; then SPA opens; then classic opens), and an
 *   open lane holding `maxQueued` refuses more (core/engine/lanes.ts);
 * - commands containing a newline or NUL (not producible by the config parser) and every
 *   command when bash cannot be started go through runShell (execa) instead;
 * - if the runner dies while commands are running, those results say `lost: true`: the command
 *   may still be running or may have succeeded (callers treat that as "maybe opened").
 * run() never throws.
 *
 * The line protocol with bash is described in runner-plan.ts.
 */
import { execa } from 'execa';
import { randomBytes } from 'node:crypto';
import { DEFAULT_COMMAND_TIMEOUT_MS, runShell, type CommandResult } from './exec.js';
import { PROGRAM, planCommand, type RunnerOptions } from './runner-plan.js';
import { LaneQueue } from '../core/engine/lanes.js';
import type { Lane } from '../core/engine/effects.js';

export { planCommand, type CommandPlan, type RunnerOptions } from './runner-plan.js';

interface Job {
  id: string;
  command: string;
  mode: 'd' | 's';
  resolve: (r: CommandResult) => void;
  started: number;
  pgid?: number;
  tail: string;          // latin1 (one char per byte)
  timedOut: boolean;
  signal?: NodeJS.Signals;
  timers: NodeJS.Timeout[];
}

const KILL_GRACE_MS = 2_000;
const DEFAULT_RECYCLE_AFTER = 1000;
const GONE_POLL_MS = 50;
const MAX_LINE = 64 * 1024;
const RESTART_WINDOW_MS = 10_000;
const MAX_QUICK_RESTARTS = 3;

type Child = ReturnType<typeof execa>;

export class CommandRunner {
  readonly #o: Required<Omit<RunnerOptions, 'env' | 'onNotice'>> & Pick<RunnerOptions, 'env' | 'onNotice'>;
  #child: Child | undefined;
  #nonce = '';
  #marker = '';
  #buf = '';
  #seq = 0;
  #fallback = false;
  #closed = false;
  #deaths: number[] = [];      // unexpected runner exits (recent ones)
  #sentToChild = 0;
  readonly #running = new Map<string, Job>();
  readonly #queue: LaneQueue<Job>;

  constructor(opts: RunnerOptions = {}) {
    this.#o = {
      bash: opts.bash ?? '/bin/bash',
      timeoutMs: opts.timeoutMs ?? DEFAULT_COMMAND_TIMEOUT_MS,
      stderrTailBytes: opts.stderrTailBytes ?? 2048,
      maxRunning: opts.maxRunning ?? 64,
      reserveForClose: opts.reserveForClose ?? 8,
      maxQueued: opts.maxQueued ?? 1024,
      recycleAfter: opts.recycleAfter ?? DEFAULT_RECYCLE_AFTER,
      env: opts.env,
      onNotice: opts.onNotice,
    };
    const reserve = Math.min(this.#o.reserveForClose, this.#o.maxRunning - 1);
    this.#queue = new LaneQueue({ maxRunning: this.#o.maxRunning, reserve, maxQueued: this.#o.maxQueued });
  }

  /** Starts the runner now (otherwise the first command starts it). */
  start(): void { this.#ensureChild(); }

  /** PID of the runner process, if one is running (tests, status). */
  get pid(): number | undefined { return this.#child?.pid; }

  /** true once bash could not be kept running and every command goes through runShell. */
  get usingFallback(): boolean { return this.#fallback; }

  /** Runs `command` in `lane` (default auth). Never throws; a full open lane gives a failed result. */
  run(command: string, lane: Lane = 'auth'): Promise<CommandResult> {
    const plan = planCommand(command);
    if (this.#closed || plan === 'fallback' || this.#fallback) return this.#viaExeca(command);
    return new Promise<CommandResult>((resolve) => {
      const job: Job = {
        id: (++this.#seq).toString(36), command, mode: plan === 'direct' ? 'd' : 's', resolve,
        started: performance.now(), tail: '', timedOut: false, timers: [],
      };
      if (!this.#queue.push(lane, job)) resolve({ exitCode: undefined, timedOut: false, failed: true, durationMs: 0, stderrTail: `command queue full (${lane} lane)` });
      else this.#pump();
    });
  }

  /** Stops accepting work and lets the runner exit (commands already started run to their end). */
  async close(): Promise<void> {
    this.#closed = true;
    for (const j of this.#queue.drain()) void this.#viaExeca(j.command).then(j.resolve);
    const c = this.#child;
    if (!c) return;
    c.stdin?.end();
    const exited = new Promise<void>((r) => { c.once('exit', () => r()); if (c.exitCode !== null || c.signalCode !== null) r(); });
    const t = setTimeout(() => { try { c.kill('SIGKILL'); } catch { /* gone */ } }, 2_000);
    await exited;
    clearTimeout(t);
  }

  // ---------------------------------------------------------------------------------------

  #viaExeca(command: string): Promise<CommandResult> {
    return runShell(command, {
      timeoutMs: this.#o.timeoutMs, stderrTailBytes: this.#o.stderrTailBytes,
      ...(this.#o.env ? { env: this.#o.env } : {}),
    });
  }

  #ensureChild(): Child | undefined {
    if (this.#child || this.#fallback || this.#closed) return this.#child;
    const now = Date.now();
    this.#deaths = this.#deaths.filter((t) => now - t < RESTART_WINDOW_MS);
    if (this.#deaths.length >= MAX_QUICK_RESTARTS) {
      this.#fallback = true;
      this.#o.onNotice?.('command runner keeps dying; running commands directly from now on', { exits: this.#deaths.length });
      return undefined;
    }
    let child: Child;
    try {
      child = execa(this.#o.bash, ['--norc', '--noprofile', '-c', PROGRAM, 'knockd-runner'], {
        stdin: 'pipe', stdout: 'pipe', stderr: 'pipe', buffer: false, reject: false,
        detached: true,     // own session: a terminal's ^C reaches the daemon, not its runner
        cleanup: false, shell: false, windowsHide: true,
        ...(this.#o.env ? { env: this.#o.env } : {}),
      });
    } catch (e) {
      this.#fallback = true;
      this.#o.onNotice?.(`cannot start ${this.#o.bash}; running commands directly`, { error: String(e) });
      return undefined;
    }
    void child.then(() => undefined, () => undefined);   // reject: false; the exit handler does the work
    if (child.pid === undefined) {
      // spawn failed (e.g. no bash): nothing was sent to it, so every command can take the other path
      this.#fallback = true;
      this.#o.onNotice?.(`cannot start ${this.#o.bash}; running commands directly`);
      return undefined;
    }
    this.#nonce = randomBytes(12).toString('hex');
    this.#marker = `\x1e${this.#nonce} `;
    this.#buf = '';
    this.#sentToChild = 0;
    this.#child = child;
    child.stdout?.on('data', (chunk: Buffer) => { if (this.#child === child) this.#onData(chunk); });
    child.stderr?.on('data', (chunk: Buffer) => { if (this.#child === child) this.#output(chunk.toString('latin1')); });
    child.stdin?.on('error', () => { /* EPIPE: the exit handler settles the jobs */ });
    child.once('exit', (code, signal) => this.#onExit(child, code, signal));
    child.stdin?.write(`${this.#nonce}\n`);
    // an idle runner does not keep the process alive; a running command does (its timers)
    child.unref();
    for (const s of [child.stdin, child.stdout, child.stderr]) (s as unknown as { unref?: () => void } | null)?.unref?.();
    return child;
  }

  #send(job: Job): void {
    const child = this.#ensureChild();
    if (!child || !child.stdin || child.stdin.destroyed) {
      void this.#viaExeca(job.command).then(job.resolve);
      return;
    }
    this.#running.set(job.id, job);
    this.#sentToChild++;
    job.timers.push(this.#o.timeoutMs > 0
      ? setTimeout(() => this.#timeout(job), this.#o.timeoutMs)
      : setTimeout(() => undefined, 2 ** 31 - 1));   // no limit: still keep the process alive meanwhile
    child.stdin.write(`${job.id} ${job.mode} ${job.command}\n`);
  }

  #onData(chunk: Buffer): void {
    this.#buf += chunk.toString('latin1');
    let nl: number;
    while ((nl = this.#buf.indexOf('\n')) >= 0) {
      const line = this.#buf.slice(0, nl);
      this.#buf = this.#buf.slice(nl + 1);
      const at = line.indexOf(this.#marker);
      if (at < 0) { this.#output(`${line}\n`); continue; }
      if (at > 0) this.#output(line.slice(0, at));
      const [type, id, value] = line.slice(at + this.#marker.length).split(' ');
      const job = id === undefined ? undefined : this.#running.get(id);
      if (!job || value === undefined || !/^\d{1,10}$/.test(value)) continue;
      if (type === 'S') {
        job.pgid = Number(value);
        if (job.timedOut) this.#kill(job, 'SIGTERM');
      } else if (type === 'E') {
        this.#finish(job, Number(value));
      }
    }
    if (this.#buf.length > MAX_LINE) { this.#output(this.#buf); this.#buf = ''; }
  }

  /** Text that is not protocol: stderr of running commands (or of bash). */
  #output(text: string): void {
    const max = this.#o.stderrTailBytes;
    for (const j of this.#running.values()) {
      j.tail = (j.tail + text).slice(-max);
    }
  }

  #result(job: Job, exitCode: number | undefined, lost: boolean): CommandResult {
    const r: CommandResult = {
      exitCode,
      timedOut: job.timedOut,
      failed: lost || job.timedOut || exitCode !== 0,
      durationMs: performance.now() - job.started,
    };
    if (job.signal) r.signal = job.signal;
    if (lost) r.lost = true;
    const tail = job.tail ? Buffer.from(job.tail, 'latin1').toString('utf8') : '';
    if (tail) r.stderrTail = tail;
    else if (lost) r.stderrTail = 'command runner exited while the command ran; its outcome is unknown';
    return r;
  }

  #finish(job: Job, exitCode: number | undefined, lost = false): void {
    if (!this.#running.delete(job.id)) return;
    for (const t of job.timers) clearTimeout(t);
    job.resolve(this.#result(job, exitCode, lost));
    this.#pump();
    if (this.#running.size === 0 && this.#sentToChild >= this.#o.recycleAfter && this.#child) this.#recycle();
  }

  /** Idle and used a lot: let this runner exit (its stdin ends) and start a fresh one. */
  #recycle(): void {
    const old = this.#child;
    this.#child = undefined;   // its exit is then expected: no notice, no lost jobs (none run)
    old?.stdin?.end();
    this.#ensureChild();
  }

  #pump(): void {
    for (let next = this.#queue.next(this.#running.size); next; next = this.#queue.next(this.#running.size)) this.#send(next);
  }

  #timeout(job: Job): void {
    if (!this.#running.has(job.id)) return;
    job.timedOut = true;
    if (job.pgid !== undefined) this.#kill(job, 'SIGTERM');
    job.timers.push(setTimeout(() => this.#kill(job, 'SIGKILL'), KILL_GRACE_MS));
  }

  /** Signals the job's process group; once the group is gone the job ends (bash may not report it). */
  #kill(job: Job, signal: NodeJS.Signals): void {
    if (!this.#running.has(job.id) || job.pgid === undefined) return;
    job.signal = signal;
    try { process.kill(-job.pgid, signal); } catch { /* already gone */ }
    const poll = (): void => {
      if (!this.#running.has(job.id) || job.pgid === undefined) return;
      let alive = true;
      try { process.kill(-job.pgid, 0); } catch { alive = false; }
      if (alive) job.timers.push(setTimeout(poll, GONE_POLL_MS));
      else this.#finish(job, undefined);
    };
    job.timers.push(setTimeout(poll, GONE_POLL_MS));
  }

  #onExit(child: Child, code: number | null, signal: NodeJS.Signals | null): void {
    if (this.#child !== child) return;
    this.#child = undefined;
    if (this.#buf) { this.#output(this.#buf); this.#buf = ''; }
    this.#deaths.push(Date.now());
    const lost = [...this.#running.values()];
    if (!this.#closed || lost.length > 0) {
      this.#o.onNotice?.('command runner exited', { code, signal, commandsInFlight: lost.length });
    }
    for (const j of lost) this.#finish(j, undefined, true);
    if (!this.#closed) this.#pump();
  }
}
