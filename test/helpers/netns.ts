/**
 * A pair of private network namespaces ("server" and "client") joined by one veth link, for
 * end-to-end tests. Nothing outside the two namespaces is touched: the veth ends are created
 * directly inside them, neither namespace has a default route, and createPair() verifies that
 * before returning. cleanup() kills the processes started through spawn() (by PID), any process
 * still running inside the two namespaces (they can only have been started by this test), and
 * deletes both namespaces, which also removes the veth and every iptables rule inside them.
 */
import { spawn as cpSpawn, spawnSync, execFile, type ChildProcess } from 'node:child_process';

export interface RunResult { code: number; stdout: string; stderr: string }

export interface NetnsPair {
  tag: string;
  server: string;
  client: string;
  serverIf: string;
  clientIf: string;
  serverV4: string;
  clientV4: string;
  serverV6: string;
  clientV6: string;
  run(ns: string, cmd: string, args: string[], opts?: { timeoutMs?: number }): Promise<RunResult>;
  spawn(ns: string, cmd: string, args: string[], opts?: { env?: Record<string, string>; cwd?: string }): ChildProcess;
  cleanup(): Promise<void>;
}

let counter = 0;
const live = new Set<PairImpl>();
let exitHookInstalled = false;

function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  process.on('exit', () => {
    for (const p of live) p.cleanupSync();
  });
}

/** Run a command (no namespace), never throws; code -1 when it could not run or timed out. */
export function runCmd(cmd: string, args: string[], timeoutMs = 15000): Promise<RunResult> {
  return new Promise((resolve) => {
    execFile(cmd, args, { timeout: timeoutMs, killSignal: 'SIGKILL', maxBuffer: 16 * 1024 * 1024, encoding: 'utf8' },
      (err, stdout, stderr) => {
        let code = 0;
        if (err) {
          const e = err as NodeJS.ErrnoException & { code?: unknown };
          code = typeof e.code === 'number' ? e.code : -1;
        }
        resolve({ code, stdout: String(stdout), stderr: String(stderr) });
      });
  });
}

/**
 * Kill every process still inside these namespaces (they can only have been started by the
 * test that made them, e.g. commands forked by a daemon under test), then delete them.
 */
export async function deleteNamespaces(names: string[]): Promise<void> {
  for (const ns of names) {
    const r = await runCmd('ip', ['netns', 'pids', ns]);
    killPids(r.stdout);
    await runCmd('ip', ['netns', 'del', ns]);
  }
}

/** Best effort, synchronous (process 'exit' hooks). */
export function deleteNamespacesSync(names: string[]): void {
  for (const ns of names) {
    const r = spawnSync('ip', ['netns', 'pids', ns], { encoding: 'utf8', timeout: 5000 });
    killPids(r.stdout ?? '');
    spawnSync('ip', ['netns', 'del', ns], { stdio: 'ignore', timeout: 5000 });
  }
}

function killPids(list: string): void {
  for (const line of list.split('\n')) {
    const pid = Number(line.trim());
    if (Number.isInteger(pid) && pid > 1 && pid !== process.pid) {
      try { process.kill(pid, 'SIGKILL'); } catch { /* gone */ }
    }
  }
}

export async function must(cmd: string, args: string[]): Promise<string> {
  const r = await runCmd(cmd, args);
  if (r.code !== 0) throw new Error(`netns setup: '${cmd} ${args.join(' ')}' failed (${r.code}): ${r.stderr.trim()}`);
  return r.stdout;
}

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

class PairImpl implements NetnsPair {
  tag: string;
  server: string;
  client: string;
  serverIf: string;
  clientIf: string;
  serverV4: string;
  clientV4: string;
  serverV6: string;
  clientV6: string;
  private readonly children = new Set<ChildProcess>();
  private cleaning: Promise<void> | undefined;
  created = false;

  constructor(tag: string, n: number, idx: number) {
    const safe = tag.replace(/[^A-Za-z0-9_-]/g, '').slice(0, 16) || 'x';
    const id = `${process.pid.toString(36)}${idx.toString(36)}`;
    this.tag = tag;
    this.server = `kts-${safe}-${id}-s`;
    this.client = `kts-${safe}-${id}-c`;
    this.serverIf = `k${id}s`.slice(0, 15);
    this.clientIf = `k${id}c`.slice(0, 15);
    this.serverV4 = `10.201.${n}.1`;
    this.clientV4 = `10.201.${n}.2`;
    this.serverV6 = `fd00:201:${n.toString(16)}::1`;
    this.clientV6 = `fd00:201:${n.toString(16)}::2`;
  }

  run(ns: string, cmd: string, args: string[], opts?: { timeoutMs?: number }): Promise<RunResult> {
    this.checkNs(ns);
    return runCmd('ip', ['netns', 'exec', ns, cmd, ...args], opts?.timeoutMs ?? 15000);
  }

  spawn(ns: string, cmd: string, args: string[], opts?: { env?: Record<string, string>; cwd?: string }): ChildProcess {
    this.checkNs(ns);
    // `ip netns exec` setns()es and then execvp()s the command, so the child's PID is the command's PID.
    const child = cpSpawn('ip', ['netns', 'exec', ns, cmd, ...args], {
      stdio: ['ignore', 'pipe', 'pipe'],
      env: opts?.env ? { ...process.env, ...opts.env } : process.env,
      ...(opts?.cwd !== undefined ? { cwd: opts.cwd } : {}),
    });
    this.children.add(child);
    child.on('exit', () => this.children.delete(child));
    child.on('error', () => this.children.delete(child));
    return child;
  }

  private checkNs(ns: string): void {
    if (ns !== this.server && ns !== this.client) throw new Error(`namespace ${ns} does not belong to this pair`);
    if (this.cleaning) throw new Error(`pair ${this.tag} has been cleaned up`);
  }

  cleanup(): Promise<void> {
    if (!this.cleaning) this.cleaning = this.doCleanup();
    return this.cleaning;
  }

  private async doCleanup(): Promise<void> {
    const waits: Promise<void>[] = [];
    for (const child of [...this.children]) {
      if (child.exitCode !== null || child.signalCode !== null || child.pid === undefined) continue;
      const pid = child.pid;
      waits.push(new Promise<void>((resolve) => {
        const timer = setTimeout(() => {
          try { process.kill(pid, 'SIGKILL'); } catch { /* gone */ }
          resolve();
        }, 2000);
        child.once('exit', () => { clearTimeout(timer); resolve(); });
        try { process.kill(pid, 'SIGTERM'); } catch { clearTimeout(timer); resolve(); }
      }));
    }
    await Promise.all(waits);
    if (this.created) await deleteNamespaces([this.server, this.client]);
    live.delete(this);
  }

  /** Best effort, synchronous (process 'exit' hook). */
  cleanupSync(): void {
    for (const child of this.children) {
      if (child.pid !== undefined && child.exitCode === null && child.signalCode === null) {
        try { process.kill(child.pid, 'SIGKILL'); } catch { /* gone */ }
      }
    }
    if (!this.created) return;
    deleteNamespacesSync([this.server, this.client]);
  }

  async setup(): Promise<void> {
    live.add(this);
    installExitHook();
    await must('ip', ['netns', 'add', this.server]);
    this.created = true;
    await must('ip', ['netns', 'add', this.client]);
    // Both ends are created directly inside their namespaces: they never exist in the host's.
    await must('ip', ['link', 'add', this.serverIf, 'netns', this.server, 'type', 'veth', 'peer', 'name', this.clientIf, 'netns', this.client]);
    for (const [ns, dev, v4, v6] of [
      [this.server, this.serverIf, this.serverV4, this.serverV6],
      [this.client, this.clientIf, this.clientV4, this.clientV6],
    ] as const) {
      await must('ip', ['-n', ns, 'link', 'set', 'lo', 'up']);
      await must('ip', ['-n', ns, 'addr', 'add', `${v4}/24`, 'dev', dev]);
      await must('ip', ['-n', ns, '-6', 'addr', 'add', `${v6}/64`, 'dev', dev, 'nodad']);
      await must('ip', ['-n', ns, 'link', 'set', dev, 'up']);
    }
    await this.waitUsable();
    await this.assertIsolated();
  }

  private async waitUsable(): Promise<void> {
    for (let i = 0; i < 100; i++) {
      let ok = true;
      for (const [ns, dev] of [[this.server, this.serverIf], [this.client, this.clientIf]] as const) {
        const tent = await must('ip', ['-n', ns, '-6', 'addr', 'show', 'dev', dev, 'tentative']);
        const link = await must('ip', ['-n', ns, 'link', 'show', 'dev', dev]);
        if (tent.trim() !== '' || !/[<,]LOWER_UP[,>]/.test(link)) ok = false;
      }
      if (ok) return;
      await sleep(50);
    }
    throw new Error(`netns ${this.tag}: veth did not come up or IPv6 addresses stayed tentative`);
  }

  private async assertIsolated(): Promise<void> {
    const checks: [string, string[], string][] = [
      [this.client, ['route', 'get', this.serverV4], this.clientIf],
      [this.client, ['-6', 'route', 'get', this.serverV6], this.clientIf],
      [this.server, ['route', 'get', this.clientV4], this.serverIf],
      [this.server, ['-6', 'route', 'get', this.clientV6], this.serverIf],
    ];
    for (const [ns, args, dev] of checks) {
      const out = await must('ip', ['-n', ns, ...args]);
      if (!new RegExp(`\\bdev ${dev}\\b`).test(out)) {
        throw new Error(`netns ${ns}: 'ip ${args.join(' ')}' does not go over ${dev}: ${out.trim()}`);
      }
    }
    for (const ns of [this.server, this.client]) {
      for (const fam of ['-4', '-6']) {
        const out = await must('ip', ['-n', ns, fam, 'route', 'show', 'default']);
        if (out.trim() !== '') throw new Error(`netns ${ns} has a default route (${fam}): ${out.trim()}`);
      }
    }
  }
}

/**
 * Create a server/client namespace pair. Addresses: 10.201.N.1/24 (server), .2 (client),
 * fd00:201:N::1/64 and ::2 (nodad, usable immediately). Throws (after removing what it made)
 * when the pair cannot be built or is not isolated.
 */
export async function createPair(tag: string): Promise<NetnsPair> {
  const idx = ++counter;
  const n = ((process.pid * 7 + idx) % 250) + 1; // namespaces are private, so N only aids reading logs
  const pair = new PairImpl(tag, n, idx);
  try {
    await pair.setup();
  } catch (e) {
    await pair.cleanup();
    throw e;
  }
  return pair;
}

/** Does a namespace with this name exist? (for tests of the harness itself) */
export async function netnsExists(name: string): Promise<boolean> {
  const r = await runCmd('ip', ['netns', 'list']);
  return r.stdout.split('\n').some((l) => l.split(' ')[0] === name);
}
