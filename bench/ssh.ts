/**
 * `npm run bench:ssh` (root; run it under the machine-wide lock: flock /work/.heavy.lock ...):
 * what knocking adds to an SSH login. Times `ssh myserver true` from start to exit, N times
 * (default 20, BENCH_RUNS), in two ways against the same private sshd in a namespace pair:
 *
 *   ours   ProxyCommand knock myserver -W %h:%p, with the door closed before every run
 *          (the run waits for the daemon's door.close record first), so each login pays a
 *          real knock, the rule insertion and the connect polling;
 *   plain  ssh straight to the same port opened by a static ACCEPT rule (no knock).
 *
 * Prints the median and p10/p90 of both and the difference (the knock's added cost).
 */
import { performance } from 'node:perf_hooks';
import { readFileSync } from 'node:fs';
import { createPair, runCmd, type NetnsPair } from '../test/helpers/netns.js';
import { auditRecords, guardedDoor, startDaemon, stopDaemon, waitFor, workdir, writeConfig } from '../test/helpers/daemon.js';
import { e2eSkipReason } from '../test/helpers/root.js';
import { sshSkipReason, startSshd, type TestSshd } from '../test/helpers/sshd.js';
import { bin, repoRoot } from '../test/helpers/paths.js';
import { join } from 'node:path';
import { writeSection } from './sections.js';
import { fmtMs, median, quantile } from './util.js';

const PORT = 2222;
const RUNS = Number(process.env.BENCH_RUNS ?? 20);

async function timeSsh(pair: NetnsPair, s: TestSshd, host: string): Promise<number> {
  const t0 = performance.now();
  const r = await pair.run(pair.client, 'env', [`HOME=${s.home}`, 'ssh', '-F', s.clientConfig, host, 'true'], { timeoutMs: 60000 });
  const ms = performance.now() - t0;
  if (r.code !== 0) throw new Error(`ssh ${host} true failed (${r.code}): ${r.stderr.trim()}`);
  return ms;
}

const line = (name: string, xs: number[]) =>
  `${name.padEnd(44)} median ${fmtMs(median(xs)).padStart(6)} ms   p10 ${fmtMs(quantile(xs, 0.1)).padStart(6)} ms   p90 ${fmtMs(quantile(xs, 0.9)).padStart(6)} ms   (n=${xs.length})`;

async function main(): Promise<void> {
  const skip = e2eSkipReason() ?? sshSkipReason();
  if (skip) { console.error(`bench:ssh: cannot run: ${skip}`); process.exitCode = 2; return; }
  const pair = await createPair('bssh');
  const w = workdir('bench-ssh');
  const onSig = () => { void pair.cleanup().then(() => process.exit(130)); };
  process.once('SIGINT', onSig);
  try {
    writeConfig(w, pair.serverIf, guardedDoor('ssh', PORT, '\tspa = yes', 1));
    const key = `${w.dir}/knock.key`;
    if ((await runCmd(process.execPath, [bin('knock'), '--keygen', '--key', key])).code !== 0) throw new Error('keygen failed');
    const add = await runCmd(process.execPath, [bin('knockd'), '-c', w.conf, 'keys', 'add', 'bench', readFileSync(`${key}.enrol`, 'utf8').trim(), '--doors', 'ssh']);
    if (add.code !== 0) throw new Error(`keys add: ${add.stderr}`);
    const s = await startSshd(pair, w.dir, pair.serverV4, PORT, key);
    for (const args of [['-A', 'INPUT', '-m', 'conntrack', '--ctstate', 'ESTABLISHED,RELATED', '-j', 'ACCEPT'],
      ['-A', 'INPUT', '-p', 'tcp', '--dport', String(PORT), '-j', 'REJECT', '--reject-with', 'tcp-reset']]) {
      const r = await pair.run(pair.server, 'iptables', ['-w', ...args]);
      if (r.code !== 0) throw new Error(r.stderr);
    }
    const d = await startDaemon(pair, w);
    try {
      const head = `${new Date().toISOString()}, ${RUNS} runs each of \`ssh HOST true\` (client namespace → sshd ${pair.serverV4}:${PORT}), ${(await runCmd('ssh', ['-V'])).stderr.trim()}, node ${process.version}`;
      console.log(`bench:ssh: ${head}`);
      await timeSsh(pair, s, 'myserver'); // warm the page cache for node, ssh and sshd
      const ours: number[] = [];
      for (let i = 0; i < RUNS; i++) {
        const closes = auditRecords(w).filter((r) => r.event === 'door.close').length;
        const opens = auditRecords(w).filter((r) => r.event === 'door.open').length;
        if (opens > closes) await waitFor(() => auditRecords(w).filter((r) => r.event === 'door.close').length, (n) => n >= opens, 15000);
        ours.push(await timeSsh(pair, s, 'myserver'));
      }
      const open = ['INPUT', '-p', 'tcp', '--dport', String(PORT), '-j', 'ACCEPT'];
      await pair.run(pair.server, 'iptables', ['-w', '-I', ...open]);
      await timeSsh(pair, s, 'plain');
      const plain: number[] = [];
      for (let i = 0; i < RUNS; i++) plain.push(await timeSsh(pair, s, 'plain'));
      await pair.run(pair.server, 'iptables', ['-w', '-D', ...open]);
      const text = [line('ours: ProxyCommand knock, door closed before', ours), line('plain: ssh to an open port', plain),
        `knock's added cost (difference of medians): ${fmtMs(median(ours) - median(plain))} ms`];
      console.log(text.join('\n'));
      writeSection(process.env['BENCH_OUT'] ?? join(repoRoot, 'bench', 'RESULTS.md'), 'ssh', [
        '## `ssh myserver` through `ProxyCommand knock -W` (`npm run bench:ssh`, issue 16)', '', head, '', ...text.map((t) => `- ${t}`)].join('\n'));
    } finally {
      await stopDaemon(d);
    }
  } finally {
    await pair.cleanup();
    process.off('SIGINT', onSig);
  }
}

await main();
