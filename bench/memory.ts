/**
 * Memory of a daemon at rest and after N spoofed-source SYNs on the first sequence port
 * (hping3 --rand-source --faster, bounded in count and time), each daemon freshly started so
 * "at rest" is really at rest. From /proc: VmRSS, RssAnon (private anonymous memory: what the
 * process itself allocated), RssFile (mapped files: for Node mostly the node binary, shared
 * with every other node process) and peak RSS. For ours also the V8 heap (used, after two
 * forced full collections) and ArrayBuffer memory (typed arrays live outside the V8 heap),
 * read by bench/heap-probe.js preloaded into the daemon (see there: on request, no signal).
 * Afterwards three valid knocks must still open.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Lab } from './netns.js';
import { measureLatency } from './scenario.js';
import { resetSeqRule, SEQ, SEQ_FILTER } from './daemons.js';
import { hpingSent } from './flood.js';
import { type Bg, fmtMs, procSample, sleep, type ProcSample } from './util.js';

export interface HeapSample { heapUsed: number; heapTotal: number; arrayBuffers: number; external: number; rss: number }

export interface MemRow {
  daemon: string; hits: number; sent?: number; cap?: number;
  rest?: ProcSample; after?: ProcSample; heapRest?: HeapSample; heapAfter?: HeapSample;
  cpuS?: number; knocksAfter?: string; note?: string;
}

/** Talks to bench/heap-probe.js in our daemon through two files (request number in, JSON lines out). */
export class HeapProbe {
  private seq = 0;
  private readonly prefix: string;
  constructor(prefix: string) { this.prefix = prefix; }
  nodeArgs(distBench: string): string[] { return ['--expose-gc', '--import', join(distBench, 'heap-probe.js')]; }
  env(): NodeJS.ProcessEnv { return { ...process.env, BENCH_HEAP_PROBE: this.prefix }; }
  async sample(timeoutMs = 5000): Promise<HeapSample | undefined> {
    const req = String(++this.seq);
    writeFileSync(`${this.prefix}.req`, req);
    const end = performance.now() + timeoutMs;
    while (performance.now() < end) {
      await sleep(100);
      let text = '';
      try { text = readFileSync(`${this.prefix}.out`, 'utf8'); } catch { continue; }
      for (const line of text.split('\n')) {
        if (!line.startsWith('{')) continue;
        const j = JSON.parse(line) as HeapSample & { req: string; gc: boolean };
        if (j.req === req && j.gc) return { heapUsed: j.heapUsed, heapTotal: j.heapTotal, arrayBuffers: j.arrayBuffers, external: j.external, rss: j.rss };
      }
    }
    return undefined;
  }
}

export async function memoryTest(lab: Lab, distBench: string, o: { daemon: string; bg: Bg; client: string[]; hits: number; cap?: number; probe?: HeapProbe }): Promise<MemRow> {
  const row: MemRow = { daemon: o.daemon, hits: o.hits, ...(o.cap !== undefined ? { cap: o.cap } : {}) };
  await sleep(1000);
  row.rest = procSample(o.bg.pid);
  if (o.probe) row.heapRest = await o.probe.sample();
  const limitS = Math.ceil(o.hits / 5000) + 20;
  process.stderr.write(`[bench] ${o.daemon}: ${o.hits} spoofed-source SYNs to port ${SEQ[0]} (hping3 --rand-source --faster, limit ${limitS} s)\n`);
  const t = performance.now();
  const r = await lab.exec('cli', 'timeout', ['-s', 'INT', '-k', '3', String(limitS), 'hping3', '--rand-source', '-S', '-q', '-p', String(SEQ[0]),
    '-c', String(o.hits), '--faster', lab.srvIp], { timeoutMs: (limitS + 10) * 1000 });
  const secs = (performance.now() - t) / 1000;
  row.sent = hpingSent(r.stdout + r.stderr);
  await sleep(3000);
  row.after = procSample(o.bg.pid);       // read before the probe forces a collection
  if (o.probe) row.heapAfter = await o.probe.sample();
  if (row.rest && row.after) row.cpuS = row.after.cpuSelf + row.after.cpuChildren - row.rest.cpuSelf - row.rest.cpuChildren;
  row.note = `${secs.toFixed(1)} s to send`;
  if (!o.bg.alive) { row.knocksAfter = `daemon exited (${o.bg.exitCode})`; return row; }
  const l = await measureLatency(lab, distBench, { scenario: 'after memory flood', daemon: o.daemon, daemonBg: o.bg, client: o.client, reset: resetSeqRule(lab), knockFilter: SEQ_FILTER, runs: 3, openTimeoutMs: 5000 });
  row.knocksAfter = `${l.opened}/${l.n} open, daemon-side median ${fmtMs(l.daemonMed)} ms`;
  return row;
}

const mb = (kb: number | undefined): string => (kb === undefined || !Number.isFinite(kb) ? '–' : (kb / 1024).toFixed(1));
const mbB = (b: number | undefined): string => (b === undefined ? '–' : (b / 2 ** 20).toFixed(1));
const pair = (a: string, b: string): string => `${a} → ${b}`;
const growth = (a: number | undefined, b: number | undefined, div: number): string =>
  a === undefined || b === undefined || !Number.isFinite(a) || !Number.isFinite(b) ? '–' : `${(b - a) / div >= 0 ? '+' : ''}${((b - a) / div).toFixed(1)}`;

export const MEM_HEAD = ['daemon', 'spoofed hits (sent)', 'RSS MB rest → after', 'RssAnon MB rest → after', 'anon growth MB', 'RssFile MB', 'V8 heap used MB rest → after', 'ArrayBuffers MB', 'peak RSS MB', 'CPU s', 'valid knocks afterwards', 'note'];

export function memoryRows(rows: readonly MemRow[]): string[][] {
  return rows.map((m) => [
    m.daemon, `${m.hits.toLocaleString('en')} (${m.sent?.toLocaleString('en') ?? '?'})`,
    pair(mb(m.rest?.rssKb), mb(m.after?.rssKb)), pair(mb(m.rest?.rssAnonKb), mb(m.after?.rssAnonKb)),
    growth(m.rest?.rssAnonKb, m.after?.rssAnonKb, 1024), mb(m.after?.rssFileKb),
    m.heapRest || m.heapAfter ? pair(mbB(m.heapRest?.heapUsed), mbB(m.heapAfter?.heapUsed)) : 'n/a',
    m.heapRest || m.heapAfter ? pair(mbB(m.heapRest?.arrayBuffers), mbB(m.heapAfter?.arrayBuffers)) : 'n/a',
    mb(m.after?.hwmKb), m.cpuS?.toFixed(2) ?? '–', m.knocksAfter ?? '', m.note ?? '',
  ]);
}

/** The issue-14 target: anonymous growth of our daemon at the attempt cap <= 10 MB. */
export function memoryVerdict(rows: readonly MemRow[], ran: boolean): { target: string; verdict: 'met' | 'not met' | 'not measured'; figures: string } {
  const target = 'memory: our daemon\'s anonymous memory (RssAnon) grows <= 10 MB after 200,000 spoofed first-port hits (attempt table at its cap)';
  const m = rows.find((r) => r.daemon === 'ours (pcap)');
  const k = rows.find((r) => r.daemon === 'knockd 0.8');
  if (!m || !m.rest || !m.after) return { target, verdict: 'not measured', figures: ran ? `not read${m?.knocksAfter ? ` (${m.knocksAfter})` : ''}` : 'not run (BENCH_ONLY)' };
  const g = (m.after.rssAnonKb - m.rest.rssAnonKb) / 1024;
  const atCap = m.cap === undefined || (m.sent ?? 0) >= m.cap;
  const kd = k?.rest && k.after ? `; knockd 0.8 RssAnon ${mb(k.rest.rssAnonKb)} → ${mb(k.after.rssAnonKb)} MB` : '';
  const semi = rows.find((r) => r.daemon.startsWith('ours (pcap), node'));
  const sm = semi?.rest && semi.after ? `; with ${semi.daemon.replace('ours (pcap), ', '')}: ${mb(semi.rest.rssAnonKb)} → ${mb(semi.after.rssAnonKb)} MB (${growth(semi.rest.rssAnonKb, semi.after.rssAnonKb, 1024)} MB)` : '';
  const heap = m.heapRest && m.heapAfter ? `; V8 heap used ${mbB(m.heapRest.heapUsed)} → ${mbB(m.heapAfter.heapUsed)} MB, ArrayBuffers ${mbB(m.heapRest.arrayBuffers)} → ${mbB(m.heapAfter.arrayBuffers)} MB` : '';
  return {
    target, verdict: !atCap ? 'not measured' : g <= 10 ? 'met' : 'not met',
    figures: `ours RssAnon ${mb(m.rest.rssAnonKb)} → ${mb(m.after.rssAnonKb)} MB (${g >= 0 ? '+' : ''}${g.toFixed(1)} MB) after ${(m.sent ?? 0).toLocaleString('en')} hits${atCap ? '' : ` (fewer than the cap ${m.cap})`}${heap}${sm}${kd}`,
  };
}
