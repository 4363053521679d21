/**
 * Client start-up, side by side in one run: `knock --spa` (bin/knock: the esbuild bundle) against
 * `node -e 0`, the floor any Node program pays. Also: the same client from the unbundled module
 * tree (what the bundle saves), our classic knock, and Debian's knock (C) when installed.
 * Target (issue 11): knock --spa median <= 1.2 x node -e 0 median.
 *
 *   npm run bench:startup            prints the table
 *   BENCH_STARTUP_N=50               runs per variant (default 30, at least 20)
 *   BENCH_STARTUP_WRITE=1            also writes the marked section of bench/RESULTS.md
 *
 * Every process is started with spawnSync and timed from before the spawn to its exit (so the
 * spawn's own cost is in every figure alike); variants are interleaved, in a rotating order, so
 * machine noise spreads over all of them; 3 warm-up rounds are not counted. Traffic: UDP
 * datagrams to a socket of this process on 127.0.0.1 only.
 */
import { spawnSync } from 'node:child_process';
import { createSocket } from 'node:dgram';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { replaceSection } from './sections.js';

const root = join(new URL('.', import.meta.url).pathname, '..', '..');
const N = Math.max(20, Number(process.env['BENCH_STARTUP_N'] ?? 30) || 30);

interface Variant { name: string; argv: string[]; times: number[] }

function median(v: number[]): number {
  const s = [...v].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? (s[m] as number) : ((s[m - 1] as number) + (s[m] as number)) / 2;
}
const p90 = (v: number[]): number => [...v].sort((a, b) => a - b)[Math.min(v.length - 1, Math.floor(v.length * 0.9))] as number;

async function main(): Promise<number> {
  const knock = join(root, 'bin', 'knock');
  if (!existsSync(join(root, 'dist', 'bundle', 'knock.cjs'))) throw new Error('no dist/bundle/knock.cjs: run npm run build');
  const dir = mkdtempSync(join(tmpdir(), 'kts-startup-'));
  const sock = createSocket('udp4');
  let received = 0;
  sock.on('message', () => { received++; });
  await new Promise<void>((r) => sock.bind(0, '127.0.0.1', r));
  try {
    const port = String(sock.address().port);
    const key = join(dir, 'key');
    const g = spawnSync(process.execPath, [knock, '--keygen', '--key', key], { encoding: 'utf8', env: { ...process.env, HOME: dir } });
    if (g.status !== 0) throw new Error(`knock --keygen failed: ${g.stderr}`);
    const tree = join(dir, 'tree.mjs');
    writeFileSync(tree, `const m = await import(${JSON.stringify(join(root, 'dist', 'src', 'cli', 'knock.js'))}); await m.run();\n`);
    const spa = ['--spa', '--key', key, '--spa-port', port, '127.0.0.1'];
    const variants: Variant[] = [
      { name: 'node -e 0', argv: [process.execPath, '-e', '0'], times: [] },
      { name: 'knock --spa (bundle, bin/knock)', argv: [process.execPath, knock, ...spa], times: [] },
      { name: 'knock --spa (module tree, no bundle)', argv: [process.execPath, tree, ...spa], times: [] },
      { name: 'knock -u HOST PORT (classic, bundle)', argv: [process.execPath, knock, '-u', '127.0.0.1', port], times: [] },
    ];
    const debian = existsSync('/usr/bin/knock') ? '/usr/bin/knock' : undefined;
    if (debian) variants.push({ name: "Debian knock -u HOST PORT (C)", argv: [debian, '-u', '127.0.0.1', port], times: [] });
    for (let round = -3; round < N; round++) {
      for (let k = 0; k < variants.length; k++) {
        const v = variants[(k + Math.max(0, round)) % variants.length] as Variant;
        const t0 = process.hrtime.bigint();
        const r = spawnSync(v.argv[0] as string, v.argv.slice(1), { encoding: 'utf8' });
        const ms = Number(process.hrtime.bigint() - t0) / 1e6;
        if (r.status !== 0) throw new Error(`${v.name} failed (${r.status}): ${r.stderr}`);
        if (round >= 0) v.times.push(ms);
      }
    }
    await new Promise((r) => setTimeout(r, 200));
    const base = median((variants[0] as Variant).times);
    const rows = variants.map((v) => `| ${v.name} | ${median(v.times).toFixed(1)} | ${p90(v.times).toFixed(1)} | ${(median(v.times) / base).toFixed(2)}x |`);
    const spaRatio = median((variants[1] as Variant).times) / base;
    const text = [
      '## Client start-up (`npm run bench:startup`)',
      '',
      `${new Date().toISOString()}, node ${process.version}, ${N} runs per variant, interleaved; wall time from spawn to exit, ms.`,
      '',
      '| variant | median | p90 | median / node -e 0 |',
      '|---|---|---|---|',
      ...rows,
      '',
      `Target knock --spa <= 1.2x node -e 0: **${spaRatio <= 1.2 ? 'met' : 'not met'}** (${spaRatio.toFixed(2)}x). ` +
        `${received} datagrams reached this benchmark's own socket on 127.0.0.1.`,
    ].join('\n');
    process.stdout.write(`${text}\n`);
    if (process.env['BENCH_STARTUP_WRITE'] === '1') {
      const file = join(root, 'bench', 'RESULTS.md');
      // a marked section: `npm run bench` rewrites the file and carries it over
      writeFileSync(file, replaceSection(existsSync(file) ? readFileSync(file, 'utf8') : '', 'client-startup', text));
      process.stdout.write(`wrote the client start-up section of ${file}\n`);
    }
    return 0;
  } finally {
    sock.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

process.exitCode = await main();
