/**
 * Can this process run the network-namespace end-to-end tests? Returns undefined when yes,
 * otherwise a human reason suitable for t.skip(). The probe namespace is created and deleted
 * again immediately; nothing outside it is touched.
 */
import { spawnSync } from 'node:child_process';

let cached: { reason: string | undefined } | undefined;

function has(cmd: string): boolean {
  const r = spawnSync(cmd, ['--version'], { stdio: 'ignore', timeout: 5000 });
  return r.error === undefined;
}

export function e2eSkipReason(): string | undefined {
  if (cached) return cached.reason;
  cached = { reason: probe() };
  return cached.reason;
}

function probe(): string | undefined {
  if (process.platform !== 'linux') return `network namespaces need Linux (platform ${process.platform})`;
  if (typeof process.getuid !== 'function' || process.getuid() !== 0) return 'not root: network namespaces and iptables need uid 0';
  for (const cmd of ['ip', 'iptables', 'ip6tables']) {
    if (!has(cmd)) return `'${cmd}' not found in PATH`;
  }
  const name = `kts-probe-${process.pid}`;
  const add = spawnSync('ip', ['netns', 'add', name], { encoding: 'utf8', timeout: 5000 });
  if (add.status !== 0) return `'ip netns add' failed: ${(add.stderr || add.error?.message || '').trim()}`;
  try {
    const ipt = spawnSync('ip', ['netns', 'exec', name, 'iptables', '-S'], { encoding: 'utf8', timeout: 10000 });
    if (ipt.status !== 0) return `iptables does not work inside a namespace: ${(ipt.stderr || '').trim()}`;
    const ip6t = spawnSync('ip', ['netns', 'exec', name, 'ip6tables', '-S'], { encoding: 'utf8', timeout: 10000 });
    if (ip6t.status !== 0) return `ip6tables does not work inside a namespace: ${(ip6t.stderr || '').trim()}`;
  } finally {
    spawnSync('ip', ['netns', 'del', name], { stdio: 'ignore', timeout: 5000 });
  }
  return undefined;
}
