/**
 * The public-line lock-out, measured (PROTOCOL.md §5, issue 10.9): whoever holds a key's public
 * line floods mac1-valid forgeries naming that key at the issue's rate (200/s) while the key's
 * owner knocks 5 times, 2 s apart, with the real client. Run once against a key enrolled from a
 * v1 line (mac1 derived from the public key) and once against a v2 key (mac1 key enrolled, not
 * derivable); prints how many genuine knocks were granted. The daemon runs for real (pcap
 * capture) inside a network namespace pair created here and removed afterwards.
 *
 *   flock /work/.heavy.lock node dist/bench/lockout.js        (root; LOCKOUT_PPS, LOCKOUT_KNOCKS)
 */
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { clientKeyFromSeed, formatClientKey, formatPublicLine } from '../src/core/keys/client.js';
import { createPair, runCmd, type NetnsPair } from '../test/helpers/netns.js';
import { auditRecords, sleep, startDaemon, stopDaemon, workdir, writeConfig, type Workdir } from '../test/helpers/daemon.js';
import { bin } from '../test/helpers/paths.js';
import { e2eSkipReason } from '../test/helpers/root.js';

const PPS = Number(process.env['LOCKOUT_PPS'] ?? 200);
const KNOCKS = Number(process.env['LOCKOUT_KNOCKS'] ?? 5);
const GAP_MS = 2000;
const here = dirname(fileURLToPath(import.meta.url));

interface Row { version: 1 | 2; forgeries: string; granted: number; knocks: number; rejectsLogged: Record<string, number> }

/** A v1 key file (made before v2: header 'knockd-ts-key v1') and its v1 line, or a v2 key from `knock --keygen`. */
async function makeKey(w: Workdir, version: 1 | 2): Promise<{ file: string; line: string; publicB64: string }> {
  const file = join(w.dir, `key-v${version}`);
  if (version === 1) {
    const k = clientKeyFromSeed(new Uint8Array(Buffer.from(`lockout bench v1 key ${process.pid}`.padEnd(32, '.').slice(0, 32))), 1);
    writeFileSync(file, formatClientKey(k, 'bench v1 key'), { mode: 0o600 });
    return { file, line: formatPublicLine(k.publicKey!, 'bench-v1'), publicB64: Buffer.from(k.publicKey!).toString('base64') };
  }
  const g = await runCmd(process.execPath, [bin('knock'), '--keygen', '--key', file]);
  if (g.code !== 0) throw new Error(`keygen: ${g.stderr}`);
  const line = readFileSync(`${file}.enrol`, 'utf8').trim();
  return { file, line, publicB64: readFileSync(`${file}.pub`, 'utf8').split(' ')[1] ?? '' };
}

async function scenario(pair: NetnsPair, version: 1 | 2): Promise<Row> {
  const w = workdir(`lock${version}`);
  writeConfig(w, pair.serverIf, '[ssh]\n\tspa = yes\n\tstart_command = true %IP%\n\tcmd_timeout = 1\n\tstop_command = true %IP%\n');
  mkdirSync(w.keys, { recursive: true, mode: 0o700 });
  const key = await makeKey(w, version);
  const add = await runCmd(process.execPath, [bin('knockd'), '-c', w.conf, 'keys', 'add', 'victim', key.line]);
  if (add.code !== 0) throw new Error(`keys add: ${add.stderr}`);
  const d = await startDaemon(pair, w);
  try {
    const seconds = (KNOCKS * GAP_MS) / 1000 + 3;
    const flood = pair.spawn(pair.client, process.execPath, [join(here, 'lockout-flood.js'), pair.serverV4, '62201', key.publicB64, String(version), String(PPS), String(seconds), pair.clientV4]);
    let floodOut = '';
    flood.stdout?.on('data', (b: Buffer) => { floodOut += b.toString(); });
    const floodDone = new Promise((r) => flood.once('exit', r));
    await sleep(2000);   // the flood has drained the key's budget by now (burst 10 at 200/s: 50 ms)
    for (let i = 0; i < KNOCKS; i++) {
      const t = Date.now();
      await pair.run(pair.client, process.execPath, [bin('knock'), '--spa', '--key', key.file, '--door', 'ssh', pair.serverV4]);
      await sleep(Math.max(0, GAP_MS - (Date.now() - t)));
    }
    await floodDone;
    await sleep(500);
    const recs = auditRecords(w);
    const granted = recs.filter((r) => (r.event === 'door.open' || r.event === 'door.extend')).length;
    const rejectsLogged: Record<string, number> = {};
    for (const r of recs) if (r.event === 'knock.reject') rejectsLogged[String(r.reason)] = (rejectsLogged[String(r.reason)] ?? 0) + 1;
    return { version, forgeries: floodOut.trim(), granted, knocks: KNOCKS, rejectsLogged };
  } finally {
    await stopDaemon(d);
  }
}

async function main(): Promise<void> {
  const why = e2eSkipReason();
  if (why) { process.stdout.write(`lockout bench not run: ${why}\n`); return; }
  const pair = await createPair('lockout');
  const rows: Row[] = [];
  try {
    for (const v of [1, 2] as const) rows.push(await scenario(pair, v));
  } finally {
    await pair.cleanup();
  }
  process.stdout.write(`\npublic-line holder floods mac1-valid forgeries at ${PPS}/s naming one key; the key's owner knocks ${KNOCKS}x, ${GAP_MS / 1000} s apart\n\n`);
  process.stdout.write('| record enrolled from | flood | genuine knocks granted | reject records in the audit log (capped 60/min) |\n|---|---|---|---|\n');
  for (const r of rows) {
    process.stdout.write(`| v${r.version} line | ${r.forgeries} | ${r.granted} of ${r.knocks} | ${JSON.stringify(r.rejectsLogged)} |\n`);
  }
}

main().catch((e: unknown) => { process.stderr.write(`lockout bench failed: ${(e as Error).stack ?? String(e)}\n`); process.exitCode = 1; });
