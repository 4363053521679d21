/**
 * The sequence matcher alone under a spoofed-source first-port flood, in a process of its own
 * started with --expose-gc (so the heap is measured after a full collection, not whenever V8
 * last ran one):
 *
 *   node --expose-gc dist/bench/matcher-mem.js HITS CAP [MODULE]
 *
 * Offers HITS first-port SYNs from distinct random IPv4 sources (Packets built as decode.ts
 * builds them: two 4-byte copies and two address strings each) to a 3-port door with
 * MaxAttempts = CAP, then prints one JSON line: offered packets per second (single thread, the
 * matcher plus packet construction), attempts held, and the growth of the V8 heap (used), of
 * ArrayBuffer memory (typed arrays live outside the V8 heap) and of the process's RssAnon.
 * MODULE (default: our built matcher) lets the same run measure another build of
 * core/knock/matcher.js, e.g. the version before a change.
 */
import { readFileSync } from 'node:fs';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { join, dirname } from 'node:path';
import type { Door } from '../src/core/config/types.js';
import type { Packet } from '../src/core/types.js';
import { formatV4 } from '../src/core/ip.js';

export interface MatcherMem {
  hits: number; cap: number; held: number; ms: number; rate: number;
  heapMb: number; arrayBuffersMb: number; rssAnonMb: number; bytesPerAttempt: number;
}

interface MatcherLike { offer(p: Packet, now: number): unknown[]; size(): number }
type MatcherCtor = new (doors: Door[], o: { maxAttempts: number; localAddrs: string[] }) => MatcherLike;

const gc = (globalThis as { gc?: () => void }).gc;

function rssAnonKb(): number {
  const m = /^RssAnon:\s+(\d+)/m.exec(readFileSync('/proc/self/status', 'utf8'));
  return m ? Number(m[1]) : NaN;
}

function sample(): { heap: number; ab: number; anon: number } {
  for (let i = 0; i < 3; i++) gc?.();
  const u = process.memoryUsage();
  return { heap: u.heapUsed, ab: u.arrayBuffers, anon: rssAnonKb() * 1024 };
}

export async function matcherMem(hits: number, cap: number, modulePath: string): Promise<MatcherMem> {
  const mod = await import(pathToFileURL(modulePath).href) as { SequenceMatcher: MatcherCtor };
  const door: Door = { name: 'bench', line: 1, sequence: [{ port: 7000, proto: 'tcp' }, { port: 8000, proto: 'tcp' }, { port: 9000, proto: 'tcp' }],
    seqTimeout: 60, tcpFlags: { syn: true }, cmdTimeout: 10, spa: false };
  const dstBytes = Uint8Array.of(10, 0, 0, 1);
  const dst = formatV4(dstBytes);
  const before = sample();
  const m = new mod.SequenceMatcher([door], { maxAttempts: cap, localAddrs: [dst] });
  let x = 0x12345678;
  const t0 = performance.now();
  for (let i = 0; i < hits; i++) {
    x ^= x << 13; x ^= x >>> 17; x ^= x << 5;   // xorshift32: distinct-enough spoofed sources
    const srcBytes = Uint8Array.of(x >>> 24, (x >>> 16) & 255, (x >>> 8) & 255, x & 255);
    const p: Packet = { family: 4, src: formatV4(srcBytes), dst, srcBytes, dstBytes: Uint8Array.from(dstBytes), proto: 'tcp',
      srcPort: 40000 + (i & 8191), dstPort: 7000, tcpFlags: 0x02, payload: new Uint8Array(0) };
    m.offer(p, 1_800_000_000_000 + i / 100);
  }
  const ms = performance.now() - t0;
  const after = sample();
  const held = m.size();
  const grow = (after.heap - before.heap) + (after.ab - before.ab);
  return {
    hits, cap, held, ms, rate: hits / (ms / 1000),
    heapMb: (after.heap - before.heap) / 2 ** 20, arrayBuffersMb: (after.ab - before.ab) / 2 ** 20,
    rssAnonMb: (after.anon - before.anon) / 2 ** 20, bytesPerAttempt: held > 0 ? grow / held : NaN,
  };
}

const self = fileURLToPath(import.meta.url);
if (process.argv[1] === self) {
  const hits = Number(process.argv[2] ?? 200_000), cap = Number(process.argv[3] ?? 65_536);
  const modulePath = process.argv[4] ?? join(dirname(self), '..', 'src', 'core', 'knock', 'matcher.js');
  if (!gc) { process.stderr.write('matcher-mem: run with node --expose-gc\n'); process.exit(64); }
  process.stdout.write(JSON.stringify(await matcherMem(hits, cap, modulePath)) + '\n');
}
