/**
 * A two-namespace lab: `<base>-srv` (daemon under test, protected TCP service) and
 * `<base>-cli` (clients, floods), joined by one veth pair and nothing else. No default route
 * exists in either namespace, so no packet can leave; `assertSafe()` checks that before any
 * traffic is sent. iptables runs only inside the server namespace.
 *
 * CPU layouts: 'shared' runs everything unpinned (client, probe loop and daemon compete for
 * all CPUs, as on a single test box); 'pinned' runs server-side processes under
 * `taskset -c <srvCpu>` and client-side ones under `taskset -c <cliCpu>` (after
 * `ip netns exec`, which execs in place, as taskset does: the PID stays the program's), the
 * way client and server are separate machines in a real deployment. A call can ask for the
 * other side's CPU (`{ cpu: 'cli' }` for measurement instruments in the server namespace).
 */
import { mkdtempSync, chmodSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { availableParallelism, tmpdir } from 'node:os';
import { join } from 'node:path';
import { must, run, Bg, sleep } from './util.js';

export interface LabOptions { tag: string; subnet?: string }

export type Side = 'srv' | 'cli';
export type CpuLayout = 'shared' | 'pinned';
export const CPU_LAYOUTS: readonly CpuLayout[] = ['shared', 'pinned'];

/** Per-call placement: run on the CPU of `cpu` instead of the namespace's own side. */
export interface PinOpt { cpu?: Side }

export type PinSupport = { ok: true; cliCpu: number; srvCpu: number; all: string } | { ok: false; reason: string; all: string };

/** Expand a kernel CPU list ("0-3,6") into CPU numbers. */
export function parseCpuList(list: string): number[] {
  const out: number[] = [];
  for (const part of list.trim().split(',').filter(Boolean)) {
    const m = /^(\d+)(?:-(\d+))?$/.exec(part.trim());
    if (!m) continue;
    const a = Number(m[1]), b = m[2] === undefined ? a : Number(m[2]);
    for (let c = a; c <= b && out.length < 4096; c++) out.push(c);
  }
  return out;
}

/** The CPUs this process may run on (Cpus_allowed_list), e.g. "0-1". */
export function allowedCpus(): string {
  try { return /^Cpus_allowed_list:\s*(\S+)/m.exec(readFileSync('/proc/self/status', 'utf8'))?.[1] ?? '0'; } catch { return '0'; }
}

/**
 * Whether the pinned layout can run here: at least two usable CPUs (os.availableParallelism())
 * and a working `taskset` (util-linux). Client side = the first allowed CPU (0 here), server
 * side = the second (1 here).
 */
export async function pinSupport(): Promise<PinSupport> {
  const all = allowedCpus();
  const n = availableParallelism();
  if (n < 2) return { ok: false, reason: `os.availableParallelism() is ${n} (< 2)`, all };
  const cpus = parseCpuList(all);
  const [cli, srv] = cpus;
  if (cli === undefined || srv === undefined) return { ok: false, reason: `fewer than two CPUs allowed (${all})`, all };
  let r;
  try { r = await run('taskset', ['-c', String(srv), 'true'], { timeoutMs: 5000 }); } catch (e) { return { ok: false, reason: `taskset (util-linux) not usable: ${(e as Error).message}`, all }; }
  if (r.code !== 0) return { ok: false, reason: `taskset -c ${srv} true failed: ${(r.stderr || r.stdout).trim()}`, all };
  return { ok: true, cliCpu: cli, srvCpu: srv, all };
}

export class Lab {
  readonly base: string;
  readonly srv: string;
  readonly cli: string;
  readonly vethSrv: string;
  readonly vethCli: string;
  readonly srvIp: string;
  readonly cliIp: string;
  /** Second client address: floods come from here, so the knock capture can filter them out. */
  readonly floodIp: string;
  /** An address no interface holds: the command own-time test inserts rules for it. */
  readonly testIp: string;
  readonly work: string;
  private created = false;
  private layoutNow: CpuLayout = 'shared';
  private pin: PinSupport | undefined;

  constructor(opts: LabOptions) {
    const id = `${opts.tag}${process.pid}`;
    this.base = id;
    this.srv = `${id}-srv`;
    this.cli = `${id}-cli`;
    this.vethSrv = `${id}s`.slice(0, 15);
    this.vethCli = `${id}c`.slice(0, 15);
    const net = opts.subnet ?? '10.199.8';
    this.srvIp = `${net}.1`;
    this.cliIp = `${net}.2`;
    this.floodIp = `${net}.3`;
    this.testIp = `${net}.250`;
    this.work = mkdtempSync(join(tmpdir(), `${id}-`));
    chmodSync(this.work, 0o700);
  }

  async create(): Promise<void> {
    const list = await must('ip', ['netns', 'list']);
    for (const ns of [this.srv, this.cli]) {
      if (list.split('\n').some((l) => l.split(' ')[0] === ns)) throw new Error(`namespace ${ns} already exists; refusing to reuse it`);
    }
    this.created = true; // from here on destroy() cleans whatever exists
    await must('ip', ['netns', 'add', this.srv]);
    await must('ip', ['netns', 'add', this.cli]);
    await must('ip', ['link', 'add', this.vethSrv, 'type', 'veth', 'peer', 'name', this.vethCli]);
    await must('ip', ['link', 'set', this.vethSrv, 'netns', this.srv]);
    await must('ip', ['link', 'set', this.vethCli, 'netns', this.cli]);
    await must('ip', ['-n', this.srv, 'addr', 'add', `${this.srvIp}/24`, 'dev', this.vethSrv]);
    await must('ip', ['-n', this.cli, 'addr', 'add', `${this.cliIp}/24`, 'dev', this.vethCli]);
    await must('ip', ['-n', this.cli, 'addr', 'add', `${this.floodIp}/24`, 'dev', this.vethCli]);
    for (const ns of [this.srv, this.cli]) await must('ip', ['-n', ns, 'link', 'set', 'lo', 'up']);
    await must('ip', ['-n', this.srv, 'link', 'set', this.vethSrv, 'up']);
    await must('ip', ['-n', this.cli, 'link', 'set', this.vethCli, 'up']);
    // offloads off so tcpdump sees wire-sized frames; ignore failure (not essential)
    await sleep(300);
    await this.assertSafe();
  }

  /** Refuse to go on unless both namespaces route only over our veth and have no default route. */
  async assertSafe(): Promise<void> {
    for (const [ns, dev, peer] of [[this.cli, this.vethCli, this.srvIp], [this.srv, this.vethSrv, this.cliIp]] as const) {
      for (const fam of ['-4', '-6']) {
        const routes = await must('ip', [fam, '-n', ns, 'route', 'show', 'default']);
        if (routes.trim() !== '') throw new Error(`safety: namespace ${ns} has a default route (${routes.trim()})`);
      }
      const get = await must('ip', ['-n', ns, 'route', 'get', peer]);
      if (!new RegExp(`\\bdev ${dev}\\b`).test(get)) throw new Error(`safety: route to ${peer} in ${ns} is not over ${dev}: ${get.trim()}`);
    }
  }

  get layout(): CpuLayout { return this.layoutNow; }

  /**
   * Switch the CPU layout for commands started from now on. 'pinned' needs pinSupport();
   * throws with its reason when it is not available. `repin` lists already running
   * processes (with their side) whose affinity is moved to the new layout.
   */
  async setLayout(layout: CpuLayout, repin: ReadonlyArray<{ pid: number; side: Side }> = []): Promise<void> {
    if (layout === 'pinned') {
      this.pin ??= await pinSupport();
      if (!this.pin.ok) throw new Error(`pinned CPU layout not available: ${this.pin.reason}`);
    }
    this.layoutNow = layout;
    for (const p of repin) {
      if (p.pid <= 0) continue;
      const list = this.cpuFor(p.side) ?? allowedCpus();
      await must('taskset', ['-a', '-p', '-c', list, String(p.pid)]);
    }
  }

  /** The CPU list a side runs on in the current layout; undefined = unpinned. */
  cpuFor(side: Side): string | undefined {
    if (this.layoutNow !== 'pinned' || !this.pin?.ok) return undefined;
    return String(side === 'srv' ? this.pin.srvCpu : this.pin.cliCpu);
  }

  /** Human description of the current layout, e.g. "pinned (server CPU 1, client CPU 0)". */
  describeLayout(): string {
    if (this.layoutNow !== 'pinned' || !this.pin?.ok) return `shared (unpinned, CPUs ${allowedCpus()})`;
    return `pinned (server CPU ${this.pin.srvCpu}, client CPU ${this.pin.cliCpu})`;
  }

  /** argv that runs a command inside a namespace (pinned to the side's CPU in the pinned layout). */
  in(ns: Side, cmd: string, args: readonly string[] = [], opt: PinOpt = {}): [string, string[]] {
    const cpu = this.cpuFor(opt.cpu ?? ns);
    return ['ip', ['netns', 'exec', ns === 'srv' ? this.srv : this.cli, ...(cpu === undefined ? [] : ['taskset', '-c', cpu]), cmd, ...args]];
  }

  exec(ns: Side, cmd: string, args: string[], opts: { timeoutMs?: number; env?: NodeJS.ProcessEnv } & PinOpt = {}) {
    const [c, a] = this.in(ns, cmd, args, opts);
    return run(c, a, opts);
  }

  async mustExec(ns: Side, cmd: string, args: string[], opts: { timeoutMs?: number; env?: NodeJS.ProcessEnv } & PinOpt = {}): Promise<string> {
    const [c, a] = this.in(ns, cmd, args, opts);
    return must(c, a, opts);
  }

  /** Start a background process in a namespace (`ip netns exec` and taskset exec in place: PID = the program). */
  bg(ns: Side, name: string, cmd: string, args: string[], env?: NodeJS.ProcessEnv, opt: PinOpt = {}): Bg {
    const [c, a] = this.in(ns, cmd, args, opt);
    return new Bg(name, c, a, join(this.work, `${name}.log`), env);
  }

  file(name: string, text: string, mode = 0o600): string {
    const p = join(this.work, name);
    writeFileSync(p, text, { mode });
    chmodSync(p, mode);
    return p;
  }

  path(name: string): string { return join(this.work, name); }

  /** Remove namespaces (the veth pair goes with them) and the work directory. */
  async destroy(keepWork = false): Promise<string[]> {
    const notes: string[] = [];
    if (this.created) {
      for (const ns of [this.srv, this.cli]) {
        const pids = (await run('ip', ['netns', 'pids', ns])).stdout.trim();
        if (pids) notes.push(`namespace ${ns} still had processes ${pids.replace(/\n/g, ' ')} (started by this harness: stopped by PID)`);
        for (const p of pids.split('\n').filter(Boolean)) { try { process.kill(Number(p), 'SIGKILL'); } catch { /* gone */ } }
        const r = await run('ip', ['netns', 'del', ns]);
        if (r.code !== 0 && !/No such file/.test(r.stderr)) notes.push(`ip netns del ${ns}: ${r.stderr.trim()}`);
      }
      // the host-side end only exists if create() failed between add and move
      for (const dev of [this.vethSrv, this.vethCli]) {
        const r = await run('ip', ['link', 'show', dev]);
        if (r.code === 0) await run('ip', ['link', 'del', dev]);
      }
      this.created = false;
    }
    if (!keepWork) rmSync(this.work, { recursive: true, force: true });
    return notes;
  }
}
