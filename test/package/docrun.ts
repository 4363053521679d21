/**
 * Documented commands, run as written. README.md and systemd/README.md mark each fenced `sh`
 * block with `<!-- doc-run: NAME -->` on the line before it; NAME says which runner executes it
 * (RUNNERS below; test/package/doc-commands.test.ts checks that every block has a known one).
 * A runner takes the block's lines as they are (comments included: bash drops them) and runs
 * each with `bash -c`, in a sandbox it prepared (test/package/sandbox.ts). What a runner adds
 * is environment, never text: a HOME, a working directory, PATH with the shims in
 * test/package/shims (sudo, systemctl), /etc/hosts naming server.example.org, and the network
 * namespace: lines starting with `knock`/`knock-ts` run in the client namespace, `knockd`/
 * `knockd-ts` and the firewall tools (nft, iptables, ip6tables: never on the host) in the
 * server namespace, all others (npm, apt, systemctl, install, ...) in the host's, where the
 * package registries are (the systemctl shim starts the daemon in the server namespace itself).
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { runCmd, type RunResult } from '../helpers/netns.js';
import { repoRoot } from '../helpers/paths.js';

/** Block name → who runs it (checked by doc-commands.test.ts). */
export const RUNNERS: Readonly<Record<string, string>> = {
  'first-screen': 'test/package/readme.test.ts (demo.sh; test.sh is what .ci/run runs)',
  'deb-install': 'scripts/test-deb.sh (test/package/deb-sandbox.ts)',
  'first-spa-door': 'scripts/test-deb.sh (test/package/deb-sandbox.ts)',
  'deb-systemd': 'scripts/test-deb.sh (test/package/deb-sandbox.ts)',
  'npm-install': 'test/package/readme.test.ts (test/package/readme-sandbox.ts)',
  'usage': 'test/package/readme.test.ts (test/package/readme-sandbox.ts)',
  'systemd-manual': 'test/package/readme.test.ts (test/package/readme-sandbox.ts)',
  'nft-ruleset': 'test/package/readme.test.ts (test/package/readme-sandbox.ts)',
};

export interface DocCommand { file: string; line: number; text: string }
export interface DocBlock { file: string; line: number; lang: string; name: string | undefined; commands: DocCommand[] }

const MARK = /^<!--\s*doc-run:\s*([a-z0-9-]+)\s*-->\s*$/;

/** Every fenced block of `rel` (relative to the repository root), with its doc-run name. */
export function docBlocks(rel: string): DocBlock[] {
  const lines = readFileSync(join(repoRoot, rel), 'utf8').split('\n');
  const out: DocBlock[] = [];
  for (let i = 0; i < lines.length; i++) {
    const open = /^```(\w*)\s*$/.exec(lines[i] as string);
    if (!open) continue;
    const prev = i > 0 ? MARK.exec((lines[i - 1] as string).trim()) : null;
    const block: DocBlock = { file: rel, line: i + 1, lang: open[1] ?? '', name: prev?.[1], commands: [] };
    let j = i + 1;
    let pending: DocCommand | undefined;
    for (; j < lines.length && !/^```\s*$/.test(lines[j] as string); j++) {
      const text = lines[j] as string;
      if (pending) { pending.text += `\n${text}`; }
      else if (text.trim() !== '' && !text.trim().startsWith('#')) pending = { file: rel, line: j + 1, text };
      if (pending && !text.endsWith('\\')) { block.commands.push(pending); pending = undefined; }
    }
    out.push(block);
    i = j;
  }
  return out;
}

/** The one block named `name` in `rel` (throws if there is none or more than one). */
export function docBlock(rel: string, name: string): DocBlock {
  const found = docBlocks(rel).filter((b) => b.name === name);
  if (found.length !== 1) throw new Error(`${rel}: expected one block marked doc-run: ${name}, found ${found.length}`);
  return found[0] as DocBlock;
}

export const shimDir = join(repoRoot, 'test', 'package', 'shims');

/** The first word after an optional `sudo [-u USER]`. */
export function commandWord(text: string): string {
  const w = text.trim().split(/\s+/);
  let k = 0;
  if (w[k] === 'sudo') { k++; if (w[k] === '-u') k += 2; }
  return w[k] ?? '';
}

export interface RunEnv {
  cwd: string;
  env: Record<string, string>;
  /** namespaces: client lines (knock, knock-ts) and the rest */
  clientNs?: string;
  serverNs?: string;
  timeoutMs?: number;
}

/** Runs one documented command as written; returns its result with the location for messages. */
export async function runDoc(c: DocCommand, r: RunEnv): Promise<RunResult & { where: string }> {
  const word = commandWord(c.text);
  const server = /^(knockd(-ts)?|nft|iptables|ip6tables)$/.test(word);
  if (server && !r.serverNs) throw new Error(`${c.file}:${c.line}: '${word}' runs only in a server namespace, and this runner has none`);
  const ns = /^knock(-ts)?$/.test(word) ? r.clientNs : server ? r.serverNs : undefined;
  const envArgs = Object.entries(r.env).map(([k, v]) => `${k}=${v}`);
  const script = `cd ${JSON.stringify(r.cwd)} && set -o pipefail && ${c.text}`;
  const argv = ['env', ...envArgs, 'bash', '-c', script];
  const res = ns ? await runCmd('ip', ['netns', 'exec', ns, ...argv], r.timeoutMs ?? 120_000)
    : await runCmd(argv[0] as string, argv.slice(1), r.timeoutMs ?? 120_000);
  return { ...res, where: `${c.file}:${c.line}: ${c.text.split('\n')[0]}` };
}

