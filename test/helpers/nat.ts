/**
 * A NAT topology for end-to-end tests, built only of namespaces this test creates:
 *
 *   client 10.202.N.2 ──veth── 10.202.N.1 router 10.203.N.1 (bridge "out", MASQUERADE)
 *                                                   ├──veth── 10.203.N.2 server
 *                                                   └──veth── 10.203.N.3 stun (coturn, on demand)
 *
 * The client reaches the outside network through the router only (a route for 10.203.N.0/24,
 * no default route); the router masquerades everything leaving by the bridge, so the server and
 * the STUN server see the router's outside address. Neither the server nor the STUN host has
 * any route to the client's inside network. Isolation is checked as in netns.ts (no default
 * route anywhere, routes go over our own links, the server cannot reach the inside) and
 * cleanup() kills what runs inside and deletes every namespace, also when setup fails.
 */
import { spawn as cpSpawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { deleteNamespaces, deleteNamespacesSync, must, runCmd, type NetnsPair, type RunResult } from './netns.js';
import { waitForLine } from './service.js';

/** Also a NetnsPair (client, server, IPv4 only), so service.ts and daemon.ts helpers work on it. */
export interface NatTopology extends NetnsPair {
  router: string; stun: string;
  /** the server's interface (knockd's Interface) and the client's */
  serverIf: string; clientIf: string;
  clientV4: string; routerInsideV4: string; routerOutsideV4: string; serverV4: string; stunV4: string;
  run(ns: string, cmd: string, args: string[], opts?: { timeoutMs?: number }): Promise<RunResult>;
  spawn(ns: string, cmd: string, args: string[], opts?: { env?: Record<string, string>; cwd?: string }): ChildProcess;
  /** Start Debian's coturn as a STUN-only server on stunV4:3478; resolves when it listens. */
  startStun(): Promise<{ host: string; port: number; child: ChildProcess }>;
  cleanup(): Promise<void>;
}

let counter = 0;
const live = new Set<Nat>();
let hooked = false;

class Nat implements NatTopology {
  tag: string; serverV6 = ''; clientV6 = '';
  client: string; router: string; server: string; stun: string;
  serverIf: string; clientIf: string;
  clientV4: string; routerInsideV4: string; routerOutsideV4: string; serverV4: string; stunV4: string;
  private readonly made: string[] = [];
  private readonly children = new Set<ChildProcess>();
  private cleaning: Promise<void> | undefined;
  private tmp: string | undefined;
  private readonly n: number;

  constructor(tag: string, n: number, idx: number) {
    const safe = tag.replace(/[^A-Za-z0-9_-]/g, '').slice(0, 12) || 'x';
    const id = `${process.pid.toString(36)}${idx.toString(36)}`;
    this.n = n;
    this.tag = tag;
    [this.client, this.router, this.server, this.stun] = ['c', 'r', 's', 't'].map((x) => `kts-nat-${safe}-${id}-${x}`) as [string, string, string, string];
    this.clientIf = `n${id}c`.slice(0, 15);
    this.serverIf = `n${id}s`.slice(0, 15);
    this.clientV4 = `10.202.${n}.2`; this.routerInsideV4 = `10.202.${n}.1`;
    this.routerOutsideV4 = `10.203.${n}.1`; this.serverV4 = `10.203.${n}.2`; this.stunV4 = `10.203.${n}.3`;
  }

  private check(ns: string): void {
    if (![this.client, this.router, this.server, this.stun].includes(ns)) throw new Error(`namespace ${ns} is not part of this topology`);
    if (this.cleaning) throw new Error('topology has been cleaned up');
  }

  run(ns: string, cmd: string, args: string[], opts?: { timeoutMs?: number }): Promise<RunResult> {
    this.check(ns);
    return runCmd('ip', ['netns', 'exec', ns, cmd, ...args], opts?.timeoutMs ?? 15000);
  }

  spawn(ns: string, cmd: string, args: string[], opts?: { env?: Record<string, string>; cwd?: string }): ChildProcess {
    this.check(ns);
    const child = cpSpawn('ip', ['netns', 'exec', ns, cmd, ...args], {
      stdio: ['ignore', 'pipe', 'pipe'], env: opts?.env ? { ...process.env, ...opts.env } : process.env,
      ...(opts?.cwd !== undefined ? { cwd: opts.cwd } : {}),
    });
    this.children.add(child);
    child.on('exit', () => this.children.delete(child));
    child.on('error', () => this.children.delete(child));
    return child;
  }

  async startStun(): Promise<{ host: string; port: number; child: ChildProcess }> {
    this.tmp ??= mkdtempSync(join(tmpdir(), 'kts-nat-'));
    // every file coturn would write (pid file, its sqlite user db) goes to our temp dir
    const child = this.spawn(this.stun, 'turnserver', ['-n', '--stun-only', '--listening-ip', this.stunV4, '--listening-port', '3478',
      '--no-cli', '--no-tls', '--no-dtls', '--log-file', 'stdout', '--pidfile', join(this.tmp, 'turnserver.pid'),
      '--userdb', join(this.tmp, 'turndb')]);
    await waitForLine(child, /Total General servers/, 15000, 'coturn');
    return { host: this.stunV4, port: 3478, child };
  }

  async setup(): Promise<void> {
    live.add(this);
    if (!hooked) { hooked = true; process.on('exit', () => { for (const t of live) t.cleanupSync(); }); }
    for (const ns of [this.client, this.router, this.server, this.stun]) {
      await must('ip', ['netns', 'add', ns]);
      this.made.push(ns);
      await must('ip', ['-n', ns, 'link', 'set', 'lo', 'up']);
    }
    const r = this.router, n = this.n;
    // inside link: both ends created directly in their namespaces
    await must('ip', ['link', 'add', this.clientIf, 'netns', this.client, 'type', 'veth', 'peer', 'name', 'in0', 'netns', r]);
    await must('ip', ['-n', this.client, 'addr', 'add', `${this.clientV4}/24`, 'dev', this.clientIf]);
    await must('ip', ['-n', r, 'addr', 'add', `${this.routerInsideV4}/24`, 'dev', 'in0']);
    // outside: a bridge in the router with the server and the STUN host on it
    await must('ip', ['-n', r, 'link', 'add', 'out', 'type', 'bridge']);
    await must('ip', ['-n', r, 'addr', 'add', `${this.routerOutsideV4}/24`, 'dev', 'out']);
    for (const [ns, dev, port, addr] of [[this.server, this.serverIf, 'p0', this.serverV4], [this.stun, 'eth0', 'p1', this.stunV4]] as const) {
      await must('ip', ['link', 'add', dev, 'netns', ns, 'type', 'veth', 'peer', 'name', port, 'netns', r]);
      await must('ip', ['-n', r, 'link', 'set', port, 'master', 'out']);
      await must('ip', ['-n', r, 'link', 'set', port, 'up']);
      await must('ip', ['-n', ns, 'addr', 'add', `${addr}/24`, 'dev', dev]);
      await must('ip', ['-n', ns, 'link', 'set', dev, 'up']);
    }
    for (const dev of ['in0', 'out']) await must('ip', ['-n', r, 'link', 'set', dev, 'up']);
    await must('ip', ['-n', this.client, 'link', 'set', this.clientIf, 'up']);
    await must('ip', ['-n', this.client, 'route', 'add', `10.203.${n}.0/24`, 'via', this.routerInsideV4]);
    await must('ip', ['netns', 'exec', r, 'sysctl', '-qw', 'net.ipv4.ip_forward=1']);
    await must('ip', ['netns', 'exec', r, 'iptables', '-t', 'nat', '-A', 'POSTROUTING', '-s', `10.202.${n}.0/24`, '-o', 'out', '-j', 'MASQUERADE']);
    await this.waitUp();
    await this.assertIsolated();
  }

  private async waitUp(): Promise<void> {
    const links: [string, string][] = [[this.client, this.clientIf], [this.router, 'in0'], [this.router, 'p0'], [this.router, 'p1'], [this.server, this.serverIf], [this.stun, 'eth0']];
    for (let i = 0; i < 100; i++) {
      let up = true;
      for (const [ns, dev] of links) if (!/[<,]LOWER_UP[,>]/.test(await must('ip', ['-n', ns, 'link', 'show', 'dev', dev]))) up = false;
      if (up) return;
      await new Promise((res) => setTimeout(res, 50));
    }
    throw new Error(`nat ${this.client}: links did not come up`);
  }

  private async assertIsolated(): Promise<void> {
    for (const ns of [this.client, this.router, this.server, this.stun]) {
      for (const fam of ['-4', '-6']) {
        const out = await must('ip', ['-n', ns, fam, 'route', 'show', 'default']);
        if (out.trim() !== '') throw new Error(`netns ${ns} has a default route (${fam}): ${out.trim()}`);
      }
    }
    const via = await must('ip', ['-n', this.client, 'route', 'get', this.serverV4]);
    if (!new RegExp(`via ${this.routerInsideV4.replace(/\./g, '\\.')} dev ${this.clientIf}\\b`).test(via)) throw new Error(`client route to the server: ${via.trim()}`);
    for (const ns of [this.server, this.stun]) {
      const r = await runCmd('ip', ['-n', ns, 'route', 'get', this.clientV4]);
      if (r.code === 0) throw new Error(`netns ${ns} can route to the inside network: ${r.stdout.trim()}`);
    }
  }

  cleanup(): Promise<void> {
    this.cleaning ??= (async () => {
      await Promise.all([...this.children].map((c) => new Promise<void>((resolve) => {
        if (c.exitCode !== null || c.signalCode !== null || c.pid === undefined) { resolve(); return; }
        const t = setTimeout(() => { try { process.kill(c.pid as number, 'SIGKILL'); } catch { /* gone */ } resolve(); }, 2000);
        c.once('exit', () => { clearTimeout(t); resolve(); });
        try { process.kill(c.pid, 'SIGTERM'); } catch { clearTimeout(t); resolve(); }
      })));
      await deleteNamespaces(this.made);
      if (this.tmp) rmSync(this.tmp, { recursive: true, force: true });
      live.delete(this);
    })();
    return this.cleaning;
  }

  cleanupSync(): void {
    for (const c of this.children) if (c.pid !== undefined && c.exitCode === null) { try { process.kill(c.pid, 'SIGKILL'); } catch { /* gone */ } }
    deleteNamespacesSync(this.made);
    if (this.tmp) rmSync(this.tmp, { recursive: true, force: true });
  }
}

/** Build the topology; on any failure everything made so far is removed and the error rethrown. */
export async function createNat(tag: string): Promise<NatTopology> {
  const idx = ++counter;
  const nat = new Nat(tag, ((process.pid * 11 + idx) % 250) + 1, idx);
  try { await nat.setup(); } catch (e) { await nat.cleanup(); throw e; }
  return nat;
}
