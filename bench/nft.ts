/**
 * `npm run bench:nft` (run it under `flock /work/.heavy.lock`): nftables set doors at scale
 * against an iptables chain of the same size, side by side in one run, inside two namespaces
 * created here and removed afterwards (also on failure and SIGINT). For N doors open at once
 * (N distinct addresses, the client's among them):
 *
 *   add one more   nft: one open batch (add; delete; add) through NftChannel, median and p90 of
 *                  NFT_BENCH_ADDS; iptables: `iptables -w -I KNOCK 1 -s ADDR ... -j ACCEPT` started
 *                  with spawnSync inside the server namespace (as a daemon forks it), NFT_BENCH_IPT_ADDS
 *   SYN→RST/s      TCP connection attempts from the client namespace to the guarded port, where
 *                  nothing listens: an admitted SYN comes back as a reset (4 at a time, a warm-up
 *                  round, then 5 rounds over NFT_BENCH_CONNECT_MS; median and range). Every SYN goes
 *                  through the set lookup or the chain (the client's rule is the last of the chain:
 *                  the worst case of a linear chain); no server process takes part. All mechanisms
 *                  are loaded at once, each guarding its own port (2201 nft, 2202 iptables-nft,
 *                  2203 legacy), and their rounds alternate, so load from elsewhere on a shared
 *                  machine hits them alike
 *   expiry         nft: N elements added in one batch with a NFT_BENCH_TTL_S timeout; when the
 *                  client's connects start failing and when `list set` is empty, after the timeout;
 *                  iptables: nothing expires by itself, a daemon runs one `iptables -D` per rule:
 *                  median of 20 deletes × N (extrapolated)
 *
 * `iptables` here is iptables-nft (rules become nf_tables rules, still one linear chain);
 * iptables-legacy (x_tables) is measured too when installed (NFT_BENCH_LEGACY=0 skips it).
 * NFT_BENCH_SIZES (default 1,1000,10000) chooses N. Prints one table; writes nothing.
 */
import { cpus } from 'node:os';
import { Lab } from './netns.js';
import { median, quantile, fmtMs, must, run, sleep, stopAll } from './util.js';
import { CONNECT_RATE, FIRST_CLOSED, TIME_COMMANDS } from './nft-scripts.js';
import { NftChannel } from '../src/io/nft.js';
import { nftOpenLines, nftTarget, type NftTarget } from '../src/core/firewall/nft.js';
import { renderNftRuleset } from '../src/core/firewall/nft-ruleset.js';
import { parseConfig } from '../src/core/config/parse.js';
import { renderTable } from '../src/core/audit/report.js';
import { parseIp, type Ip } from '../src/core/ip.js';

const env = process.env;
const SIZES = (env['NFT_BENCH_SIZES'] ?? '1,1000,10000').split(',').map(Number).filter((n) => Number.isInteger(n) && n >= 1 && n <= 60_000);
const ADDS = Math.max(5, Number(env['NFT_BENCH_ADDS'] ?? 200));
const IPT_ADDS = Math.max(5, Number(env['NFT_BENCH_IPT_ADDS'] ?? 30));
const CONNECT_MS = Math.max(500, Number(env['NFT_BENCH_CONNECT_MS'] ?? 6000));
const ROUNDS = 5;
const TTL_S = Math.max(1, Number(env['NFT_BENCH_TTL_S'] ?? 5));
const LEGACY = env['NFT_BENCH_LEGACY'] !== '0';
const PORT = 2201;
const SET = 'inet knockd bench4';

/** N-1 filler addresses (10.100.0.1 ...), never the lab's 10.199.9.0/24. */
const filler = (i: number): string => `10.${100 + (i >> 16)}.${(i >> 8) & 255}.${i & 255}`;
/** Addresses added during the measurement (10.150.0.0/16). */
const extra = (k: number): string => `10.150.${(k >> 8) & 255}.${k & 255}`;
const ip = (s: string): Ip => parseIp(s) as Ip;

interface Row { n: number; mech: string; add: number[]; rate: string; expiry: string }

interface Mech { name: string; port: number; tool?: 'iptables' | 'iptables-legacy' }

/** SYN→RST rate per mechanism; rounds interleaved (a warm-up, then ROUNDS), so noise from the shared machine hits all alike. */
async function synRates(lab: Lab, mechs: readonly Mech[]): Promise<Map<Mech, string>> {
  const rates = new Map<Mech, number[]>(mechs.map((m) => [m, []]));
  const failed = new Map<Mech, number>(mechs.map((m) => [m, 0]));
  const ms = Math.round(CONNECT_MS / ROUNDS);
  for (let i = 0; i <= ROUNDS; i++) {
    for (const m of mechs) {
      const r = await lab.exec('cli', process.execPath, ['-e', CONNECT_RATE, lab.srvIp, String(m.port), String(ms), '4'], { timeoutMs: ms + 20_000 });
      let j: { ok?: number; fail?: number; ms?: number } = {};
      try { j = JSON.parse(r.stdout.trim()) as typeof j; } catch { /* counted as 0 */ }
      if (i === 0) continue;
      rates.get(m)?.push((j.ok ?? 0) / ((j.ms ?? ms) / 1000));
      failed.set(m, (failed.get(m) ?? 0) + (j.fail ?? 0));
    }
  }
  const k = (x: number): string => `${(x / 1000).toFixed(1)}k`;
  return new Map(mechs.map((m) => {
    const r = rates.get(m) ?? [];
    const f = failed.get(m) ?? 0;
    return [m, `${k(median(r))}/s (${k(Math.min(...r))}-${k(Math.max(...r))})${f ? `, ${f} timed out` : ''}`];
  }));
}

async function timeCommands(lab: Lab, argvs: string[][], limitMs: number): Promise<number[]> {
  const [cmd, args] = lab.in('srv', process.execPath, ['-e', TIME_COMMANDS, String(limitMs)]);
  const r = await run(cmd, args, { input: argvs.map((a) => JSON.stringify(a)).join('\n') + '\n', timeoutMs: limitMs + 30_000 });
  const out = r.stdout.trim().split('\n').filter(Boolean);
  const bad = out.find((l) => l.startsWith('fail'));
  if (bad) throw new Error(`${argvs[0]?.join(' ')}: ${bad}`);
  return out.map(Number);
}

const ruleFor = (a: string, port: number): string => `-s ${a} -p tcp --dport ${port} -j ACCEPT`;

/** A chain KNOCK of N ACCEPT rules (the client's last) for `port`, jumped to from INPUT after the established rule. */
async function loadChain(lab: Lab, m: Mech, addrs: readonly string[]): Promise<void> {
  const text = ['*filter', ':INPUT ACCEPT [0:0]', ':FORWARD ACCEPT [0:0]', ':OUTPUT ACCEPT [0:0]', ':KNOCK - [0:0]',
    '-A INPUT -m conntrack --ctstate ESTABLISHED,RELATED -j ACCEPT', `-A INPUT -p tcp --dport ${m.port} -j KNOCK`,
    ...addrs.map((a) => `-A KNOCK ${ruleFor(a, m.port)}`), '-A KNOCK -j DROP', 'COMMIT', ''].join('\n');
  const [cmd, args] = lab.in('srv', `${m.tool}-restore`);
  const r = await run(cmd, args, { input: text, timeoutMs: 120_000 });
  if (r.code !== 0) throw new Error(`${m.tool}-restore: ${r.stderr.trim()}`);
}

async function nftAdds(ch: NftChannel, target: NftTarget): Promise<number[]> {
  const times: number[] = [];
  for (let k = 0; k < ADDS + 20; k++) {
    const p = nftOpenLines(target, ip(extra(k)), 3_600_000, { lease: `bench-${k}` });
    if (!p.ok) throw new Error(p.error);
    const t = performance.now();
    const r = await ch.apply(p.lines);
    const dt = performance.now() - t;
    if (!r.ok) throw new Error(`nft add: ${r.error}`);
    if (k >= 20) times.push(dt); // the first 20 warm up JIT and nft's caches
  }
  return times;
}

/** N elements added again in one batch with the short timeout: when the client is refused, when the set is empty. */
async function nftExpiry(lab: Lab, ch: NftChannel, target: NftTarget, m: Mech, addrs: readonly string[]): Promise<string> {
  const f = await ch.apply([`flush set ${SET}`]);
  if (!f.ok) throw new Error(f.error);
  const t0 = Date.now();
  const a = await ch.apply([`add element ${SET} { ${addrs.map((x) => `${x} timeout ${TTL_S}s`).join(', ')} }`]);
  const batchMs = Date.now() - t0;
  if (!a.ok) throw new Error(`nft bulk add: ${a.error}`);
  const probe = lab.exec('cli', process.execPath, ['-e', FIRST_CLOSED, lab.srvIp, String(m.port), String(TTL_S * 1000 + 20_000)], { timeoutMs: TTL_S * 1000 + 40_000 });
  let emptyAt = NaN;
  for (const end = t0 + TTL_S * 1000 + 30_000; Date.now() < end; await sleep(100)) {
    const l = await ch.list(target.set);
    if (l.ok && l.elements.length === 0) { emptyAt = Date.now(); break; }
  }
  const closed = Number((await probe).stdout.trim());
  const due = t0 + TTL_S * 1000;
  return `client refused +${fmtMs(closed - due)} ms, set empty +${fmtMs(emptyAt - due)} ms after the ${TTL_S} s timeout (bulk add of ${addrs.length}: ${batchMs} ms)`;
}

async function rowsFor(lab: Lab, n: number, tools: ReadonlyArray<'iptables' | 'iptables-legacy'>): Promise<Row[]> {
  const mechs: Mech[] = [{ name: 'nft set, NftChannel', port: PORT }, ...tools.map((t, i): Mech => ({ name: t === 'iptables' ? 'iptables chain (iptables-nft)' : 'iptables chain (legacy)', port: PORT + 1 + i, tool: t }))];
  const addrs = [...Array.from({ length: n - 1 }, (_, i) => filler(i + 1)), lab.cliIp];
  const config = parseConfig(`[bench]\nsequence = 7000\nports = ${PORT}\nnft_set = ${SET}\ncmd_timeout = 3600\n`, 'bench.conf', { resolvePath: (p) => p, readOts: () => '' });
  await lab.mustExec('srv', 'nft', ['-f', lab.file('ruleset.nft', renderNftRuleset(config))]);
  await lab.mustExec('srv', 'nft', ['-f', lab.file('fill.nft', `add element ${SET} { ${addrs.map((a) => `${a} timeout 3600s`).join(', ')} }\n`)]);
  for (const m of mechs) if (m.tool) await loadChain(lab, m, addrs);
  const target = nftTarget(config.doors[0]!, 4) as NftTarget;
  const ch = await NftChannel.open({ command: ['ip', 'netns', 'exec', lab.srv, 'nft'], targets: [target] });
  try {
    const adds = new Map<Mech, number[]>();
    for (const m of mechs) {
      adds.set(m, m.tool
        ? await timeCommands(lab, Array.from({ length: IPT_ADDS }, (_, k) => [m.tool as string, '-w', '-I', 'KNOCK', '1', ...ruleFor(extra(k), m.port).split(' ')]), 60_000)
        : await nftAdds(ch, target));
    }
    const rates = await synRates(lab, mechs);
    const rows: Row[] = [];
    for (const m of mechs) {
      let expiry: string;
      if (!m.tool) expiry = await nftExpiry(lab, ch, target, m, addrs);
      else {
        const dels = Array.from({ length: Math.min(20, IPT_ADDS) }, (_, k) => [m.tool as string, '-w', '-D', 'KNOCK', ...ruleFor(extra(k), m.port).split(' ')]);
        const per = median(await timeCommands(lab, dels, 60_000));
        expiry = `${n} × ${m.tool} -D, median ${fmtMs(per)} ms: ~${fmtMs(per * n / 1000)} s (extrapolated)`;
      }
      rows.push({ n, mech: m.name, add: adds.get(m) ?? [], rate: rates.get(m) ?? '', expiry });
    }
    return rows;
  } finally {
    await ch.close();
    if (tools.includes('iptables-legacy')) for (const a of [['-F'], ['-X']]) await lab.exec('srv', 'iptables-legacy', ['-w', ...a]);
    await lab.exec('srv', 'nft', ['flush', 'ruleset']);
  }
}

async function main(): Promise<void> {
  const lab = new Lab({ tag: 'nftb', subnet: '10.199.9' });
  let cleaning = false;
  const cleanup = async (): Promise<void> => { if (cleaning) return; cleaning = true; await stopAll(); await lab.destroy(); };
  process.on('SIGINT', () => { void cleanup().then(() => process.exit(130)); });
  const rows: Row[] = [];
  try {
    await lab.create();
    const tools: Array<'iptables' | 'iptables-legacy'> = ['iptables'];
    if (LEGACY && (await run('iptables-legacy', ['--version']).catch(() => undefined))?.code === 0) tools.push('iptables-legacy');
    const versions = await Promise.all([must('nft', ['--version']), must('iptables', ['--version']), must('uname', ['-r'])]);
    console.log(`# ${versions.map((v) => v.trim()).join('; ')}; ${cpus().length} CPUs; node ${process.version}`);
    console.log(`# sizes ${SIZES.join(', ')}; ${ADDS} nft adds, ${IPT_ADDS} iptables inserts per size; connect loops ${ROUNDS} x ${Math.round(CONNECT_MS / ROUNDS)} ms x4; nft timeout ${TTL_S} s`);
    for (const n of SIZES) {
      rows.push(...await rowsFor(lab, n, tools));
      console.error(`done: N=${n}`);
    }
  } finally {
    await cleanup();
  }
  const head = ['open doors (N)', 'mechanism', 'add one: median ms', 'p90 ms', 'samples', 'SYN→RST/s to the guarded port', 'all N expire'];
  console.log(renderTable(head, rows.map((r) => [String(r.n), r.mech, fmtMs(median(r.add)), fmtMs(quantile(r.add, 0.9)), String(r.add.length), r.rate, r.expiry])));
}

main().catch((e: unknown) => { console.error(e instanceof Error ? e.stack : e); process.exit(1); });
