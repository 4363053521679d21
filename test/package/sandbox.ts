/**
 * A throwaway view of the machine for install tests: /etc, /usr, /var, /run and /root become
 * overlays whose writes land in a temporary directory, inside a private mount namespace. Real
 * dpkg, apt, adduser and npm run against it; when the process exits, the mounts are gone and the
 * host's files were never written. The upper (written) layers also tell exactly what an install
 * or a purge left behind (leftovers()).
 *
 * enterSandbox() refuses to run in the host's mount namespace: start the process with
 * `unshare --mount --propagation private`, with KTS_HOST_PID set (scripts/test-deb.sh, sandboxed()).
 */
import { lstatSync, mkdirSync, readdirSync, readFileSync, readlinkSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';

export const SANDBOXED = ['/etc', '/usr', '/var', '/run', '/root'] as const;

export interface Sandbox { dir: string; upper(mount: string): string }

function must(cmd: string, args: string[]): void {
  const r = spawnSync(cmd, args, { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`sandbox: ${cmd} ${args.join(' ')} failed: ${(r.stderr || r.error?.message || '').trim()}`);
}

/**
 * A process that stays in the host's mount namespace (the script that ran unshare passes its pid
 * as KTS_HOST_PID): /proc/PID/root is the host's file system, seen past our overlays.
 */
function hostRoot(): string {
  const pid = process.env['KTS_HOST_PID'];
  if (!pid || !/^\d+$/.test(pid)) throw new Error('sandbox: KTS_HOST_PID (a process in the host mount namespace) is not set');
  return `/proc/${pid}/root`;
}

export function inPrivateMountNs(): boolean {
  try { return readlinkSync('/proc/self/ns/mnt') !== readlinkSync(`${hostRoot().slice(0, -5)}/ns/mnt`); } catch { return false; }
}

export function enterSandbox(dir: string): Sandbox {
  if (!inPrivateMountNs()) throw new Error('sandbox: not in a private mount namespace; refusing to mount over the host (use unshare --mount --propagation private)');
  const key = (m: string) => m.slice(1).replace(/\//g, '_');
  for (const m of SANDBOXED) {
    const up = join(dir, 'upper', key(m)), wk = join(dir, 'work', key(m));
    mkdirSync(up, { recursive: true });
    mkdirSync(wk, { recursive: true });
    must('mount', ['-t', 'overlay', `kts-${key(m)}`, '-o', `lowerdir=${m},upperdir=${up},workdir=${wk}`, m]);
  }
  return { dir, upper: (m) => join(dir, 'upper', key(m)) };
}

/** Paths written by the tools themselves, not by the package: dpkg/apt bookkeeping, caches. */
const BOOKKEEPING = [
  /^\/var\/lib\/dpkg\//, /^\/var\/lib\/apt\//, /^\/var\/cache\/(apt|man|debconf|ldconfig)\//, /^\/var\/log\/(dpkg\.log|apt\/|alternatives\.log)/,
  /^\/etc\/(passwd|group|shadow|gshadow)-$/, /^\/etc\/(\.pwd\.lock|ld\.so\.cache)$/, /^\/run\/(netns|lock|xtables\.lock)(\/|$)/,
  /^\/root\/\.(npm|cache)(\/|$)/,
];

/**
 * What the sandboxed run changed that is not bookkeeping: files and directories added (not in
 * the layer below), files whose content differs from the layer below, and deletions (overlay
 * whiteouts) of files the host has. `allow` adds expected paths.
 */
export function leftovers(sb: Sandbox, allow: RegExp[] = []): string[] {
  const out: string[] = [];
  const skip = (p: string) => [...BOOKKEEPING, ...allow].some((re) => re.test(p));
  const walk = (m: string, upperDir: string, rel: string): void => {
    for (const name of readdirSync(join(upperDir, rel))) {
      const r = join(rel, name);
      const path = join(m, r);
      const up = join(upperDir, r);
      if (skip(path)) continue;
      const st = lstatSync(up);
      const lower = isLink(join(hostRoot(), path));
      if (st.isCharacterDevice() && st.rdev === 0) { out.push(`deleted ${path}`); continue; }
      if (st.isDirectory()) {
        if (!lower) out.push(`added dir ${path}`);
        walk(m, upperDir, r);
        continue;
      }
      if (!lower) { out.push(`added ${path}`); continue; }
      if (st.isFile() && !sameAsHost(up, path)) out.push(`changed ${path}`);
    }
  };
  for (const m of SANDBOXED) walk(m, sb.upper(m), '');
  return out;
}

function isLink(p: string): boolean { try { lstatSync(p); return true; } catch { return false; } }

function sameAsHost(upperFile: string, path: string): boolean {
  try { return readFileSync(upperFile).equals(readFileSync(join(hostRoot(), path))); } catch { return false; }
}

/** argv that runs `argv` in a new private mount namespace (for enterSandbox), and its env. */
export function sandboxed(argv: string[]): { argv: string[]; env: Record<string, string> } {
  return { argv: ['unshare', '--mount', '--propagation', 'private', ...argv], env: { KTS_HOST_PID: String(process.pid) } };
}
