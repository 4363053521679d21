/**
 * A two-namespace lab: `<base>-srv` (daemon under test, protected TCP service) and
 * `<base>-cli` (clients, floods), joined by one veth pair and nothing else. No default route
 * exists in either namespace, so no packet can leave; `assertSafe()` checks that before any
 * traffic is sent. iptables runs only inside the server namespace.
 */
import { mkdtempSync, chmodSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { must, run, Bg, sleep } from './util.js';

export interface LabOptions { tag: string; subnet?: string }

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
  readonly work: string;
  private created = false;

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

  /** argv prefix that runs a command inside a namespace. */
  in(ns: 'srv' | 'cli', cmd: string, ...args: string[]): [string, string[]] {
    return ['ip', ['netns', 'exec', ns === 'srv' ? this.srv : this.cli, cmd, ...args]];
  }

  exec(ns: 'srv' | 'cli', cmd: string, args: string[], opts: { timeoutMs?: number; env?: NodeJS.ProcessEnv } = {}) {
    const [c, a] = this.in(ns, cmd, ...args);
    return run(c, a, opts);
  }

  async mustExec(ns: 'srv' | 'cli', cmd: string, args: string[], opts: { timeoutMs?: number; env?: NodeJS.ProcessEnv } = {}): Promise<string> {
    const [c, a] = this.in(ns, cmd, ...args);
    return must(c, a, opts);
  }

  /** Start a background process in a namespace (`ip netns exec` execs in place: PID = the program). */
  bg(ns: 'srv' | 'cli', name: string, cmd: string, args: string[], env?: NodeJS.ProcessEnv): Bg {
    const [c, a] = this.in(ns, cmd, ...args);
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
