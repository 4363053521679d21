/**
 * Run our knockd (bin/knockd, compiled dist) inside the server namespace of a NetnsPair.
 * Started through pair.spawn so cleanup() stops it by PID even when a test fails.
 */
import { mkdtempSync, mkdirSync, writeFileSync, readFileSync, existsSync, chmodSync } from 'node:fs';
import { join } from 'node:path';
import { tmpdir } from 'node:os';
import type { ChildProcess } from 'node:child_process';
import type { NetnsPair } from './netns.js';
import { bin } from './paths.js';

export interface Workdir { dir: string; conf: string; log: string; audit: string; state: string; keys: string }

export function workdir(prefix: string): Workdir {
  const dir = mkdtempSync(join(tmpdir(), `kts-${prefix}-`));
  chmodSync(dir, 0o700);
  mkdirSync(join(dir, 'keys'), { mode: 0o700 });
  return { dir, conf: join(dir, 'knockd.conf'), log: join(dir, 'knockd.log'), audit: join(dir, 'audit.log'), state: join(dir, 'state'), keys: join(dir, 'keys') };
}

/** [options] block pointing every path into the work dir, then the given door sections. */
export function writeConfig(w: Workdir, iface: string, doors: string, extraOptions = ''): void {
  writeFileSync(w.conf, `[options]
\tInterface = ${iface}
\tLogFile = ${w.log}
\tAuditLog = ${w.audit}
\tStateDir = ${w.state}
\tKeysDir = ${w.keys}
${extraOptions}
${doors}
`);
}

export interface RunningDaemon { child: ChildProcess; stdout: () => string; stderr: () => string; exited: Promise<number | null> }

export async function startDaemon(pair: NetnsPair, w: Workdir, extraArgs: string[] = [], timeoutMs = 15000, nodeArgs: string[] = []): Promise<RunningDaemon> {
  const child = pair.spawn(pair.server, process.execPath, [...nodeArgs, bin('knockd'), '-c', w.conf, '-v', ...extraArgs]);
  let out = '', err = '';
  child.stdout?.on('data', (d: Buffer) => { out += d.toString(); });
  child.stderr?.on('data', (d: Buffer) => { err += d.toString(); });
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  const end = Date.now() + timeoutMs;
  while (!/listening on /.test(out)) {
    if (child.exitCode !== null || Date.now() > end) {
      throw new Error(`knockd did not start (exit ${child.exitCode}): ${err.slice(0, 2000)}`);
    }
    await sleep(50);
  }
  return { child, stdout: () => out, stderr: () => err, exited };
}

export async function stopDaemon(d: RunningDaemon, signal: NodeJS.Signals = 'SIGTERM', limitMs = 20000): Promise<number | null> {
  if (d.child.exitCode !== null || d.child.signalCode !== null) return d.child.exitCode;
  d.child.kill(signal);
  const t = setTimeout(() => d.child.kill('SIGKILL'), limitMs);
  const code = await d.exited;
  clearTimeout(t);
  return code;
}

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Parsed audit records (tests assert on records, not strings). */
export function auditRecords(w: Workdir): Array<Record<string, unknown>> {
  if (!existsSync(w.audit)) return [];
  return readFileSync(w.audit, 'utf8').split('\n').filter((l) => l.trim() !== '').map((l) => JSON.parse(l) as Record<string, unknown>);
}

export async function waitFor<T>(fn: () => T | Promise<T>, pred: (v: T) => boolean, limitMs: number, stepMs = 100): Promise<T> {
  const end = Date.now() + limitMs;
  let v = await fn();
  while (!pred(v) && Date.now() < end) { await sleep(stepMs); v = await fn(); }
  return v;
}

/** Count the ACCEPT rules for a source in the server namespace (duplicate-rule checks). */
export async function acceptRules(pair: NetnsPair, family: 4 | 6, port: number): Promise<string[]> {
  const r = await pair.run(pair.server, family === 4 ? 'iptables' : 'ip6tables', ['-S', 'INPUT']);
  return r.stdout.split('\n').filter((l) => l.includes(`--dport ${port}`) && l.includes('-j ACCEPT'));
}

export function guardedDoor(name: string, port: number, body: string, cmdTimeout: number): string {
  return `[${name}]
${body}
\tstart_command   = iptables -I INPUT -s %IP% -p tcp --dport ${port} -j ACCEPT
\tstart_command_6 = ip6tables -I INPUT -s %IP% -p tcp --dport ${port} -j ACCEPT
\tcmd_timeout     = ${cmdTimeout}
\tstop_command    = iptables -D INPUT -s %IP% -p tcp --dport ${port} -j ACCEPT
\tstop_command_6  = ip6tables -D INPUT -s %IP% -p tcp --dport ${port} -j ACCEPT
`;
}

/**
 * The shipped idempotent recipe (README): `-C … || -I …` to open, `! -C … || -D …` to close,
 * with `-w` (wait for the xtables lock). "Already there" counts as open, "already gone" as closed.
 */
export function idempotentDoor(name: string, port: number, body: string, cmdTimeout: number): string {
  const rule = (tool: string, op: string) => `${tool} -w ${op} INPUT -s %IP% -p tcp --dport ${port} -j ACCEPT`;
  const open = (t: string) => `${rule(t, '-C')} || ${rule(t, '-I')}`;
  const close = (t: string) => `! ${rule(t, '-C')} || ${rule(t, '-D')}`;
  return `[${name}]
${body}
\tstart_command   = ${open('iptables')}
\tstart_command_6 = ${open('ip6tables')}
\tcmd_timeout     = ${cmdTimeout}
\tstop_command    = ${close('iptables')}
\tstop_command_6  = ${close('ip6tables')}
`;
}

/** Generate a client key and enrol it (public line) for `doors`; returns the private key path. */
export async function enrolKey(w: Workdir, name: string, doors = 'ssh'): Promise<string> {
  const { runCmd } = await import('./netns.js');
  const home = join(w.dir, `home-${name}`);
  mkdirSync(join(home, '.knock'), { recursive: true, mode: 0o700 });
  const key = join(home, '.knock', 'key');
  const g = await runCmd(process.execPath, [bin('knock'), '--keygen', '--key', key]);
  if (g.code !== 0) throw new Error(`keygen: ${g.stderr}`);
  const pub = readFileSync(`${key}.enrol`, 'utf8').trim();
  const a = await runCmd(process.execPath, [bin('knockd'), '-c', w.conf, 'keys', 'add', name, pub, '--doors', doors]);
  if (a.code !== 0) throw new Error(`keys add: ${a.stderr}${a.stdout}`);
  return key;
}
