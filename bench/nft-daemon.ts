/**
 * The daemon half of `npm run bench:nft` (NFT_BENCH_ONLY=daemon runs it alone; run it under
 * `flock /work/.heavy.lock`): SPA knock → open, daemon-side, in one run and one lab, for
 *   - our daemon, nft set door (NftChannel), with N doors open at once: the set is pre-filled
 *     with N-1 elements of ours (distinct addresses, comment `knockd lease=…`, 1 h timeout) that
 *     the daemon reconciles at start, so it holds N leases when the measured knock comes;
 *   - our daemon, iptables command door (the README's idempotent recipe, `-C … || -I …`), with
 *     N-1 ACCEPT rules for other addresses in INPUT;
 *   - fwknopd 2.6.10 (pcap mode, its own iptables chain), N = 1.
 * daemon-side = the knock's capture timestamp to the first SYN-ACK of a back-to-back probe loop,
 * both on the server's wire clock (bench/scenario.ts measureLatency). Port 2222 answers probes
 * with a TCP reset until it is open: nft through `knockd firewall --print nft`'s ruleset with
 * `reject with tcp reset` in place of the final drop, iptables through a REJECT rule. Between
 * runs the grant is removed from outside (nft: the element; iptables: the rule), so each measured
 * knock adds the element or rule again (our daemon still holds the lease: it refreshes it, with
 * the same nft transaction, add; delete; add, or the same `-C || -I` commands as a first open).
 * Pinned CPU layout when available (NFT_BENCH_CPUS=shared to force shared).
 */
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { Lab, pinSupport } from './netns.js';
import { measureLatency, type LatencyRow } from './scenario.js';
import { SPA_FILTER, SPA_PORT, SERVICE_PORT, resetSeqRule, setupFwknop, startFwknopd } from './daemons.js';
import { Bg, fmtMs, run, sleep, stopAll } from './util.js';
import { mdTable } from './sections.js';
import { renderNftRuleset } from '../src/core/firewall/nft-ruleset.js';
import { parseConfig } from '../src/core/config/parse.js';
import { idempotentDoor } from '../test/helpers/daemon.js';

const distBench = dirname(fileURLToPath(import.meta.url));
const env = process.env;
const RUNS = Math.max(3, Number(env['NFT_BENCH_RUNS'] ?? 20));
const SET = 'inet knockd bench4';
/** N-1 filler addresses (10.100.0.1 ...), never the lab's 10.199.10.0/24. */
const filler = (i: number): string => `10.${100 + (i >> 16)}.${(i >> 8) & 255}.${i & 255}`;

export interface DaemonRow { mech: string; n: number; row: LatencyRow }

interface Ours { knock: string; knockd: string; keyFile: string; keysDir: string }

async function setupKeys(lab: Lab, binDir: string, conf: string): Promise<Ours> {
  const o = { knock: join(binDir, 'knock'), knockd: join(binDir, 'knockd'), keyFile: lab.path('client.key'), keysDir: lab.path('keys') };
  const kg = await run(process.execPath, [o.knock, '--keygen', '--key', o.keyFile], { timeoutMs: 30_000 });
  if (kg.code !== 0) throw new Error(`knock --keygen: ${kg.stderr}`);
  const add = await run(process.execPath, [o.knockd, '-c', conf, 'keys', 'add', 'bench', readFileSync(`${o.keyFile}.enrol`, 'utf8').trim()], { timeoutMs: 30_000 });
  if (add.code !== 0) throw new Error(`knockd keys add: ${add.stderr}${add.stdout}`);
  return o;
}

/** Config for one of our daemons: its own StateDir and LogFile, the shared KeysDir. */
function ourConf(lab: Lab, name: string, door: string, extra = ''): string {
  const state = lab.path(`state-${name}`);
  if (!existsSync(state)) mkdirSync(state, { mode: 0o700 });
  if (!existsSync(lab.path('keys'))) mkdirSync(lab.path('keys'), { mode: 0o700 });
  return lab.file(`${name}.conf`, [
    '[options]', `\tLogFile = ${lab.path(`${name}.knockd.log`)}`, `\tSPAPort = ${SPA_PORT}`, `\tKeysDir = ${lab.path('keys')}`,
    `\tStateDir = ${state}`, '\tSPAWindow = 60', '\tSPAMode = pcap', extra, door, '',
  ].join('\n'));
}

const NFT_DOOR = `[bench]\n\tspa = yes\n\tports = ${SERVICE_PORT}\n\tcmd_timeout = 60\n\tnft_set = ${SET}\n`;
const IPT_DOOR = idempotentDoor('bench', SERVICE_PORT, '\tspa = yes', 60);

/** Start our daemon and wait until it takes knocks (after reconciling a large set, that takes a while). */
async function startOurs(lab: Lab, o: Ours, name: string, conf: string): Promise<Bg> {
  const bg = lab.bg('srv', name, process.execPath, [o.knockd, '-c', conf, '-i', lab.vethSrv, '-v']);
  for (const end = Date.now() + 120_000; Date.now() < end; await sleep(100)) {
    if (!bg.alive) throw new Error(`${name} exited: ${bg.logText().slice(0, 400)}`);
    if (/listening on /.test(bg.logText())) return bg;
  }
  await bg.stop();
  throw new Error(`${name} did not start within 120 s: ${bg.logText().slice(-600)}`);
}

async function latency(lab: Lab, o: Ours, name: string, bg: Bg, reset: string[], openTimeoutMs: number): Promise<LatencyRow> {
  const client = [process.execPath, o.knock, '--spa', '--key', o.keyFile, '--door', 'bench', lab.srvIp];
  return measureLatency(lab, distBench, { scenario: 'SPA knock', daemon: name, daemonBg: bg, client, reset, knockFilter: SPA_FILTER, runs: RUNS, openTimeoutMs });
}

async function nftRows(lab: Lab, o: Ours, sizes: readonly number[]): Promise<DaemonRow[]> {
  const conf = ourConf(lab, 'ours-nft', NFT_DOOR, '\tCloseOnExit = no');
  const config = parseConfig(readFileSync(conf, 'utf8'), conf, { resolvePath: (p) => p, readOts: () => '' });
  const guard = `tcp dport { ${SERVICE_PORT} } drop`;
  const text = renderNftRuleset(config);
  if (!text.includes(guard)) throw new Error(`the printed ruleset has no "${guard}"`);
  await lab.mustExec('srv', 'nft', ['-f', lab.file('ruleset.nft', text.replace(guard, `tcp dport { ${SERVICE_PORT} } reject with tcp reset`))]);
  const reset = ['ip', 'netns', 'exec', lab.srv, 'nft', `add element ${SET} { ${lab.cliIp} timeout 1s }; delete element ${SET} { ${lab.cliIp} }`];
  const rows: DaemonRow[] = [];
  try {
    for (const n of sizes) {
      await lab.mustExec('srv', 'nft', ['flush', 'set', ...SET.split(' ')]);
      if (n > 1) {
        const els = Array.from({ length: n - 1 }, (_, i) => `${filler(i + 1)} timeout 3600s comment "knockd lease=fill-${i + 1}"`);
        await lab.mustExec('srv', 'nft', ['-f', lab.file('fill.nft', `add element ${SET} { ${els.join(', ')} }\n`)], { timeoutMs: 120_000 });
      }
      const bg = await startOurs(lab, o, `ours-nft-${n}`, conf);
      try {
        const leases = /"rearmed":(\d+)/.exec(bg.logText())?.[1];
        const row = await latency(lab, o, 'ours, nft set door', bg, reset, 3000);
        row.note = [`daemon reconciled ${leases ?? '?'} leases at start`, row.note].filter(Boolean).join('; ');
        rows.push({ mech: 'ours, nft set door', n, row });
      } finally { await bg.stop(); }
      process.stderr.write(`[bench:nft] nft door, N=${n}: daemon-side median ${fmtMs(rows.at(-1)?.row.daemonMed)} ms\n`);
    }
  } finally { await lab.exec('srv', 'nft', ['delete', 'table', 'inet', 'knockd']); }
  return rows;
}

/** INPUT = N-1 ACCEPT rules for other addresses, then REJECT (the guard); our daemon inserts at the top. */
async function iptablesChain(lab: Lab, n: number): Promise<void> {
  const text = ['*filter', ':INPUT ACCEPT [0:0]', ':FORWARD ACCEPT [0:0]', ':OUTPUT ACCEPT [0:0]',
    ...Array.from({ length: n - 1 }, (_, i) => `-A INPUT -s ${filler(i + 1)} -p tcp --dport ${SERVICE_PORT} -j ACCEPT`),
    `-A INPUT -p tcp --dport ${SERVICE_PORT} -j REJECT --reject-with tcp-reset`, 'COMMIT', ''].join('\n');
  const [cmd, args] = lab.in('srv', 'iptables-restore');
  const r = await run(cmd, args, { input: text, timeoutMs: 120_000 });
  if (r.code !== 0) throw new Error(`iptables-restore: ${r.stderr.trim()}`);
}

async function iptablesRows(lab: Lab, o: Ours, sizes: readonly number[]): Promise<DaemonRow[]> {
  const conf = ourConf(lab, 'ours-ipt', IPT_DOOR);
  const rows: DaemonRow[] = [];
  for (const n of sizes) {
    await iptablesChain(lab, n);
    const bg = await startOurs(lab, o, `ours-ipt-${n}`, conf);
    try { rows.push({ mech: 'ours, iptables command door (idempotent recipe, -C else -I)', n, row: await latency(lab, o, 'ours, iptables door', bg, resetSeqRule(lab), 10_000) }); } finally { await bg.stop(); }
    process.stderr.write(`[bench:nft] iptables door, N=${n}: daemon-side median ${fmtMs(rows.at(-1)?.row.daemonMed)} ms\n`);
  }
  await iptablesChain(lab, 1);
  return rows;
}

async function fwknopRow(lab: Lab): Promise<DaemonRow> {
  const fw = await setupFwknop(lab);
  const d = await startFwknopd(lab, 'pcap');
  try {
    const row = await measureLatency(lab, distBench, { scenario: 'SPA knock', daemon: 'fwknopd pcap', daemonBg: d, client: fw.client, clientEnv: fw.env, reset: fw.reset, knockFilter: SPA_FILTER, runs: RUNS, openTimeoutMs: 3000 });
    return { mech: 'fwknopd 2.6.10 (pcap, iptables)', n: 1, row };
  } finally { await d.stop(); }
}

/** Runs the whole daemon comparison in its own lab; returns the rows and the lab's CPU layout. */
export async function daemonBench(sizes: readonly number[], binDir: string): Promise<{ rows: DaemonRow[]; layout: string; notes: string[] }> {
  const lab = new Lab({ tag: 'nftd', subnet: '10.199.10' });
  const rows: DaemonRow[] = [];
  const notes: string[] = [];
  const onInt = (): void => { void stopAll().then(() => lab.destroy()).finally(() => process.exit(130)); };
  process.once('SIGINT', onInt);
  try {
    await lab.create();
    const pin = await pinSupport();
    if (env['NFT_BENCH_CPUS'] !== 'shared' && pin.ok) await lab.setLayout('pinned');
    else if (!pin.ok) notes.push(`pinned layout not available: ${pin.reason}`);
    const js = `require('net').createServer(s=>s.destroy()).listen(${SERVICE_PORT},'${lab.srvIp}',()=>console.log('listening'))`;
    const service = lab.bg('srv', 'service', process.execPath, ['-e', js]);
    for (let i = 0; i < 50 && !/listening/.test(service.logText()); i++) await sleep(100);
    const o = await setupKeys(lab, binDir, ourConf(lab, 'keys', NFT_DOOR));
    rows.push(...await nftRows(lab, o, sizes));
    rows.push(...await iptablesRows(lab, o, sizes));
    try { rows.push(await fwknopRow(lab)); } catch (e) { notes.push(`fwknopd not measured: ${(e as Error).message}`); }
    return { rows, layout: lab.describeLayout(), notes };
  } finally {
    process.off('SIGINT', onInt);
    await stopAll();
    notes.push(...await lab.destroy());
  }
}

/** The table and the target verdict, as markdown. */
export function daemonReport(r: { rows: readonly DaemonRow[]; layout: string; notes: readonly string[] }): string {
  const head = ['mechanism', 'open doors (N)', 'opened', 'daemon-side ms median / p90', 'client-incl. ms median', 'note'];
  const body = r.rows.map((x) => [x.mech, x.n.toLocaleString('en'), `${x.row.opened}/${x.row.n}`, `${fmtMs(x.row.daemonMed)} / ${fmtMs(x.row.daemonP90)}`, fmtMs(x.row.clientMed), x.row.note ?? '']);
  const nft = r.rows.filter((x) => x.mech.includes('nft') && x.row.daemonMed !== undefined && Number.isFinite(x.row.daemonMed));
  const meds = nft.map((x) => x.row.daemonMed as number);
  const met = meds.length > 0 && meds.every((m) => m <= 2);
  const verdict = meds.length === 0 ? 'not measured'
    : `${met ? 'met' : 'not met'}: nft door daemon-side medians ${nft.map((x) => `N=${x.n.toLocaleString('en')} ${fmtMs(x.row.daemonMed)} ms`).join(', ')} (max/min ${(Math.max(...meds) / Math.min(...meds)).toFixed(2)})`;
  return [
    `### SPA knock → open, our daemon: nft set door vs iptables command door vs fwknopd (${r.layout})`, '',
    `Target: nft door knock → open daemon-side median ≤ 2 ms, flat from 1 to 10,000 open doors — ${verdict}.`, '',
    mdTable(head, body), '',
    ...r.notes.map((n) => `- ${n}`),
  ].join('\n');
}
