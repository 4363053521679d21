/**
 * Benchmark-only preload for our daemon: `node --expose-gc --import <dist>/bench/heap-probe.js
 * bin/knockd ...` with BENCH_HEAP_PROBE=<prefix> in the environment. No signal, no inspector,
 * nothing in the daemon's code: every 200 ms it stats <prefix>.req; when the file's content (a
 * request number) changes it runs two full collections (gc(), exposed by --expose-gc) and
 * appends one JSON line with process.memoryUsage() and the request number to <prefix>.out.
 * Measuring only on request keeps the forced collections out of the flood itself.
 * Without BENCH_HEAP_PROBE it does nothing. The timer is unref'd: it never keeps the daemon alive.
 */
import { appendFileSync, readFileSync } from 'node:fs';

const prefix = process.env['BENCH_HEAP_PROBE'];
if (prefix) {
  const gc = (globalThis as { gc?: () => void }).gc;
  let last = '';
  const t = setInterval(() => {
    let req: string;
    try { req = readFileSync(`${prefix}.req`, 'utf8').trim(); } catch { return; }
    if (req === '' || req === last) return;
    last = req;
    gc?.(); gc?.();
    const u = process.memoryUsage();
    try { appendFileSync(`${prefix}.out`, JSON.stringify({ req, gc: gc !== undefined, ...u }) + '\n'); } catch { /* bench gone */ }
  }, 200);
  t.unref();
}
