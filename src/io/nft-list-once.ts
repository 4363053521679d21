/**
 * `nft -j list set FAMILY TABLE SET` as one process, for `knockd status` (a command run by an
 * operator: one process per set is fine there; the daemon uses its channel, io/nft.ts). Never
 * throws: nft missing, not permitted, or a set missing come back as `{ ok: false, error }`.
 */
import { execFile } from 'node:child_process';
import type { NftSetRef } from '../core/config/types.js';
import { parseNftListJson, type NftListResult } from '../core/firewall/nft-list.js';
import { resolveCommand } from './nft-child.js';

export interface ListOnceOptions {
  /** Default ['nft'] from PATH. */
  readonly command?: readonly string[];
  readonly timeoutMs?: number;
  /** Extra environment (tests: the fake nft's). */
  readonly env?: Readonly<Record<string, string>>;
}

export function nftListOnce(set: NftSetRef, o: ListOnceOptions = {}): Promise<NftListResult> {
  let argv: string[];
  try { argv = resolveCommand(o.command ?? ['nft']); } catch (e) { return Promise.resolve({ ok: false, error: (e as Error).message }); }
  const [cmd, ...pre] = argv as [string, ...string[]];
  return new Promise((resolve) => {
    execFile(cmd, [...pre, '-j', 'list', 'set', set.family, set.table, set.set], { timeout: o.timeoutMs ?? 10_000, maxBuffer: 256 * 1024 * 1024, encoding: 'utf8', env: { ...process.env, ...o.env, HOME: '/dev/null' } },
      (err, stdout, stderr) => {
        if (err) {
          const why = stderr.split('\n').find((l) => l.trim() !== '') ?? err.message;
          resolve({ ok: false, error: why.trim().slice(0, 300) });
          return;
        }
        resolve(parseNftListJson(stdout, set));
      });
  });
}
