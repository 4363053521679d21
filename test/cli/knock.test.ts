import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { knockMain, getopt, cAtoi, delayToMs, parsePortArg, USAGE, type KnockDeps } from '../../src/cli/knock.js';
import { ResolveError, numericService, type Family } from '../../src/io/send.js';
import { e2eSkipReason } from '../helpers/root.js';
import { createPair, type NetnsPair } from '../helpers/netns.js';

// ---------------------------------------------------------------------------------------------
// argument handling, with recorded hits (no network)

interface Rec { out: string; err: string; hits: string[]; sleeps: number[]; code: number }

async function runKnock(argv: string[]): Promise<Rec> {
  const rec: Rec = { out: '', err: '', hits: [], sleeps: [], code: -99 };
  const deps: KnockDeps = {
    tcpHit: async (a, f, p) => { rec.hits.push(`tcp ${a} v${f} ${p}`); },
    udpHit: async (a, f, p) => { rec.hits.push(`udp ${a} v${f} ${p}`); },
    resolve: async (host: string, family: Family | undefined, service: string) => {
      // a fake resolver: 'dual' has both families (v6 sorts first, as often with AF_UNSPEC)
      let port = numericService(service);
      if (port === undefined && service === 'ssh') port = 22;
      if (port === undefined) throw new ResolveError(host, service, 'Servname not supported for ai_socktype');
      if (host === 'dual') return family === 4 ? { address: '192.0.2.1', family: 4, port } : { address: '2001:db8::1', family: 6, port };
      if (host === '192.0.2.9' && family !== 6) return { address: host, family: 4, port };
      throw new ResolveError(host, service, 'Name or service not known');
    },
    sleep: async (ms) => { rec.sleeps.push(ms); },
  };
  rec.code = await knockMain(argv, { out: (s) => { rec.out += s; }, err: (s) => { rec.err += s; }, prog: 'knock', deps, home: '/nonexistent-kts-home' });
  return rec;
}

const V4 = '192.0.2.9';
const table: { name: string; argv: string[]; code: number; hits?: string[]; out?: string | RegExp; err?: string | RegExp; sleeps?: number[] }[] = [
  { name: 'plain tcp', argv: [V4, '7000', '8000'], code: 0, hits: [`tcp ${V4} v4 7000`, `tcp ${V4} v4 8000`], out: '', err: '' },
  { name: ':udp suffix', argv: [V4, '7000:udp', '8000:tcp'], code: 0, hits: [`udp ${V4} v4 7000`, `tcp ${V4} v4 8000`] },
  { name: ':UDP is tcp (lowercase only)', argv: [V4, '7000:UDP', '7001:Udp', '7002:foo', '7003:'], code: 0,
    hits: [`tcp ${V4} v4 7000`, `tcp ${V4} v4 7001`, `tcp ${V4} v4 7002`, `tcp ${V4} v4 7003`] },
  { name: 'split at first colon', argv: [V4, '7000:udp:x'], code: 0, hits: [`tcp ${V4} v4 7000`] },
  { name: '-u overrides :tcp', argv: ['-u', V4, '7000:tcp', '8000'], code: 0, hits: [`udp ${V4} v4 7000`, `udp ${V4} v4 8000`] },
  { name: 'permutation: options after positionals', argv: [V4, '7000', '-u', '8000', '-v'], code: 0,
    hits: [`udp ${V4} v4 7000`, `udp ${V4} v4 8000`], out: `hitting udp ${V4}:7000\nhitting udp ${V4}:8000\n` },
  { name: '-- ends options', argv: ['-v', '--', V4, '-5'], code: 1, hits: [], err: `Failed to resolve hostname '${V4}' on port -5\ngetaddrinfo: Servname not supported for ai_socktype\n` },
  { name: 'verbose keeps port text as typed', argv: ['-v', V4, 'ssh', '70000:udp'], code: 0,
    hits: [`tcp ${V4} v4 22`, `udp ${V4} v4 4464`], out: `hitting tcp ${V4}:ssh\nhitting udp ${V4}:70000\n` },
  { name: '-d 100 sleeps after every hit incl. last', argv: ['-d', '100', V4, '1', '2'], code: 0, sleeps: [100, 100] },
  { name: '--delay 100', argv: ['--delay', '100', V4, '1'], code: 0, sleeps: [100] },
  { name: '--delay=25', argv: ['--delay=25', V4, '1'], code: 0, sleeps: [25] },
  { name: '-d25 attached', argv: ['-d25', V4, '1'], code: 0, sleeps: [25] },
  { name: 'bundled -vud5', argv: ['-vud5', V4, '1'], code: 0, sleeps: [5], hits: [`udp ${V4} v4 1`], out: `hitting udp ${V4}:1\n` },
  { name: '--del abbreviation', argv: ['--del', '7', V4, '1'], code: 0, sleeps: [7] },
  { name: 'non-numeric delay is 0', argv: ['-d', 'abc', V4, '1'], code: 0, sleeps: [], hits: [`tcp ${V4} v4 1`] },
  { name: '5x delay is 5 (atoi)', argv: ['-d', '5x', V4, '1'], code: 0, sleeps: [5] },
  { name: 'negative delay', argv: ['-d', '-5', V4, '1'], code: 1, hits: [], err: 'error: delay cannot be negative\n', out: '' },
  { name: 'negative delay but missing args: usage first', argv: ['-d', '-5'], code: 1, out: USAGE, err: '' },
  { name: 'missing port', argv: [V4], code: 1, out: USAGE, hits: [] },
  { name: 'no args', argv: [], code: 1, out: USAGE },
  { name: 'missing -d argument', argv: ['-d'], code: 1, out: USAGE, err: "knock: option requires an argument -- 'd'\n" },
  { name: 'missing --delay argument', argv: [V4, '1', '--delay'], code: 1, hits: [], err: "knock: option '--delay' requires an argument\n" },
  { name: 'unknown short option', argv: ['-x', V4, '1'], code: 1, out: USAGE, err: "knock: invalid option -- 'x'\n", hits: [] },
  { name: 'unknown long option', argv: ['--foo', V4, '1'], code: 1, err: "knock: unrecognized option '--foo'\n" },
  { name: 'ambiguous --ver', argv: ['--ver', V4, '1'], code: 1, err: "knock: option '--ver' is ambiguous; possibilities: '--verbose' '--version'\n" },
  { name: '--udp=1 not allowed', argv: ['--udp=1', V4, '1'], code: 1, err: "knock: option '--udp' doesn't allow an argument\n" },
  { name: '-h exits 1 with usage', argv: ['-h', V4, '1'], code: 1, out: new RegExp(`^${USAGE.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}`), hits: [] },
  { name: '-V exits 0', argv: ['-V'], code: 0, out: /^knock \(knockd-ts\) \d+\.\d+\.\d+/ },
  { name: 'options act in order: -V -h', argv: ['-V', '-h'], code: 0, out: /^knock \(knockd-ts\)/ },
  { name: 'options act in order: -h -V', argv: ['-h', '-V'], code: 1, out: /^usage: knock/ },
  { name: 'options act in order: -V -x', argv: ['-V', '-x'], code: 0, err: '' },
  { name: '-4 -6 last wins (6)', argv: ['-4', '-6', 'dual', '1'], code: 0, hits: ['tcp 2001:db8::1 v6 1'] },
  { name: '-6 -4 last wins (4)', argv: ['-6', '-4', 'dual', '1'], code: 0, hits: ['tcp 192.0.2.1 v4 1'] },
  { name: 'resolve failure mid-way keeps earlier hits', argv: [V4, '1', 'nosuch', '3'], code: 1, hits: [`tcp ${V4} v4 1`],
    err: `Failed to resolve hostname '${V4}' on port nosuch\ngetaddrinfo: Servname not supported for ai_socktype\n` },
  { name: 'unknown host', argv: ['-v', 'no.such.invalid', '1'], code: 1, hits: [], out: '',
    err: "Failed to resolve hostname 'no.such.invalid' on port 1\ngetaddrinfo: Name or service not known\n" },
  { name: 'spa option without --spa', argv: ['--ttl', '5', V4, '1'], code: 64, hits: [], err: /--ttl' needs --spa or --keygen/ },
  { name: '--spa without --key uses ~/.knock/key', argv: ['--spa', V4], code: 77, err: /cannot read key file '\/nonexistent-kts-home\/\.knock\/key': ENOENT \(create one with 'knock --keygen/ },
  { name: '--spa with ports', argv: ['--spa', '--key', '/k', V4, '7000'], code: 64, err: /no ports/ },
  { name: '--spa bad ttl', argv: ['--spa', '--key', '/k', '--ttl', '0', V4], code: 64, err: /--ttl must be/ },
  { name: '--spa bad allow-ip', argv: ['--spa', '--key', '/k', '--allow-ip', '1.2.3', V4], code: 64, err: /--allow-ip must be/ },
  { name: '--spa bad spa-port', argv: ['--spa', '--key', '/k', '--spa-port', '70000', V4], code: 64, err: /--spa-port must be 1-65535/ },
  { name: '--spa with -u', argv: ['--spa', '-u', '--key', '/k', V4], code: 64, err: /'-u' does not apply to --spa/ },
  { name: '--keygen with host', argv: ['--keygen', V4], code: 64, err: /takes no host/ },
  { name: '--keygen bad type', argv: ['--keygen', '--type', 'rsa'], code: 64, err: /--type must be ed25519 or hmac/ },
  { name: '--spa and --keygen', argv: ['--spa', '--keygen'], code: 64, err: /exclude each other/ },
  // -r / --repeat (knockd-ts extension): every hit N times in a row, -d after every copy
  { name: '-r 3 sends every hit three times, in order', argv: ['-r', '3', V4, '7000', '8000:udp'], code: 0, out: '', err: '',
    hits: [`tcp ${V4} v4 7000`, `tcp ${V4} v4 7000`, `tcp ${V4} v4 7000`, `udp ${V4} v4 8000`, `udp ${V4} v4 8000`, `udp ${V4} v4 8000`] },
  { name: '--repeat=2 with -d: the delay after every copy', argv: ['--repeat=2', '-d', '10', V4, '1', '2'], code: 0, sleeps: [10, 10, 10, 10],
    hits: [`tcp ${V4} v4 1`, `tcp ${V4} v4 1`, `tcp ${V4} v4 2`, `tcp ${V4} v4 2`] },
  { name: '-r2 attached, --rep abbreviation, last wins', argv: ['-r2', '--rep', '1', V4, '1'], code: 0, hits: [`tcp ${V4} v4 1`] },
  { name: '-r 1 is the default', argv: ['-r', '1', V4, '1', '2'], code: 0, hits: [`tcp ${V4} v4 1`, `tcp ${V4} v4 2`] },
  { name: '-v -r 2 prints each hit once', argv: ['-v', '-r', '2', V4, '1'], code: 0, out: `hitting tcp ${V4}:1\n`, hits: [`tcp ${V4} v4 1`, `tcp ${V4} v4 1`] },
  { name: '-r 0 refused', argv: ['-r', '0', V4, '1'], code: 64, hits: [], err: "knock: --repeat must be a whole number from 1 to 100 (got '0')\n" },
  { name: '-r 101 refused', argv: ['-r', '101', V4, '1'], code: 64, hits: [], err: /--repeat must be a whole number from 1 to 100 \(got '101'\)/ },
  { name: '-r x refused', argv: ['--repeat', '2x', V4, '1'], code: 64, hits: [], err: /got '2x'/ },
  { name: 'missing -r argument', argv: [V4, '1', '-r'], code: 1, out: USAGE, hits: [], err: "knock: option requires an argument -- 'r'\n" },
  { name: '--spa with -r', argv: ['--spa', '-r', '2', '--key', '/k', V4], code: 64, err: /'-r' does not apply to --spa/ },
  { name: '-h lists -r', argv: ['-h'], code: 1, out: /-r, --repeat <n> {5}send every hit <n> times/ },
];

for (const row of table) {
  test(`knock args: ${row.name}`, async () => {
    const r = await runKnock(row.argv);
    assert.equal(r.code, row.code, `exit code; err=${r.err}`);
    if (row.hits) assert.deepEqual(r.hits, row.hits);
    if (row.sleeps) assert.deepEqual(r.sleeps, row.sleeps);
    for (const [k, want] of [['out', row.out], ['err', row.err]] as const) {
      if (want === undefined) continue;
      if (typeof want === 'string') assert.equal(r[k], want, k);
      else assert.match(r[k], want, k);
    }
  });
}

test('usage text is byte-identical to knock 0.8 (reference §3)', () => {
  const want = [
    'usage: knock [options] <host> <port[:proto]> [port[:proto]] ...',
    'options:',
    '  -u, --udp            make all ports hits use UDP (default is TCP)',
    '  -d, --delay <t>      wait <t> milliseconds between port hits',
    '  -4, --ipv4           Force usage of IPv4',
    '  -6, --ipv6           Force usage of IPv6',
    '  -v, --verbose        be verbose',
    '  -V, --version        display version',
    '  -h, --help           this help',
    '',
    'example:  knock myserver.example.com 123:tcp 456:udp 789:tcp',
    '', ''].join('\n');
  assert.equal(USAGE, want);
});

test('getopt permutation yields options in order and collects positionals', () => {
  const pos: string[] = [];
  const ev = [...getopt(['h1', '-v', 'p1', '-d', '5', 'p2', '--udp', '--', '-4', 'x'], 'knock', pos)];
  assert.deepEqual(ev.map((e) => (e.kind === 'opt' ? `${e.key}=${e.value ?? ''}` : 'ERR')), ['v=', 'd=5', 'u=']);
  assert.deepEqual(pos, ['h1', 'p1', 'p2', '-4', 'x']);
  const pos2: string[] = [];
  const ev2 = [...getopt(['-', '-4vd', '7'], 'knock', pos2)];
  assert.deepEqual(ev2.map((e) => (e.kind === 'opt' ? `${e.key}=${e.value ?? ''}` : 'ERR')), ['4=', 'v=', 'd=7']);
  assert.deepEqual(pos2, ['-']);
});

test('cAtoi and delayToMs follow C semantics', () => {
  const rows: [string, number][] = [['100', 100], ['  42x', 42], ['abc', 0], ['', 0], ['-5', -5], ['+7', 7],
    ['4294967296', 0], ['2147483648', -2147483648], ['99999999999999999999', -1]];
  for (const [s, want] of rows) assert.equal(cAtoi(s), want, s);
  assert.equal(delayToMs(100), 100);
  assert.equal(delayToMs(0), 0);
  // 1000 * 4294968 overflows 32 bits: 4294968000 - 2^32 = 704 us
  assert.equal(delayToMs(4294968), 0.704);
});

test('parsePortArg', () => {
  assert.deepEqual(parsePortArg('22:udp', false), { service: '22', proto: 'udp' });
  assert.deepEqual(parsePortArg('22:UDP', false), { service: '22', proto: 'tcp' });
  assert.deepEqual(parsePortArg('22:tcp', true), { service: '22', proto: 'udp' });
  assert.deepEqual(parsePortArg(':udp', false), { service: '', proto: 'udp' });
  assert.deepEqual(parsePortArg('ssh', false), { service: 'ssh', proto: 'tcp' });
});

test('the classic path does not load tweetnacl, cap or spa-client', () => {
  const src = readFileSync(fileURLToPath(new URL('../../src/cli/knock.js', import.meta.url)), 'utf8');
  const statics = [...src.matchAll(/^import .* from '([^']+)';$/gm)].map((m) => m[1]);
  assert.ok(statics.length > 0);
  for (const s of statics) assert.doesNotMatch(String(s), /tweetnacl|cap|spa-client|commander/, `static import ${s}`);
  assert.match(src, /import\('\.\/spa-client\.js'\)/);
});

test('at run time the classic path resolves no SPA/crypto/capture module (module hooks)', async () => {
  const { spawnSync } = await import('node:child_process');
  const dir = mkdtempSync(join(tmpdir(), 'h6mods-'));
  try {
    const logf = join(dir, 'mods.log');
    const hooks = `import { appendFileSync } from 'node:fs';
export async function resolve(spec, ctx, next) { const r = await next(spec, ctx); appendFileSync(${JSON.stringify(logf)}, r.url + '\\n'); return r; }`;
    const main = `import { register } from 'node:module';
register('data:text/javascript,' + encodeURIComponent(${JSON.stringify(hooks)}));
const m = await import(${JSON.stringify(ourKnock)});
process.exitCode = await m.knockMain(process.argv.slice(1), { out: () => {}, err: () => {} });`;
    for (const argv of [['-u', '127.0.0.1', '9'], ['--keygen', '--key', join(dir, 'k'), '--type', 'hmac'],
      ['--keygen', '--key', join(dir, 'e')], ['--spa', '--key', join(dir, 'e'), '--door', 'x', '127.0.0.1']]) {
      const r = spawnSync(process.execPath, ['--input-type=module', '-e', main, '--', ...argv], { encoding: 'utf8' });
      assert.equal(r.status, 0, r.stderr);
      const mods = readFileSync(logf, 'utf8');
      assert.match(mods, /cli\/knock\.js/);
      if (argv[0] === '--keygen' || argv[0] === '--spa') {
        assert.match(mods, /spa-client\.js/, 'the SPA path does load spa-client');
        assert.doesNotMatch(mods, /tweetnacl|\/cap\/|commander|pino|execa/, 'nor the SPA path (node:crypto signs)');
      }
      else assert.doesNotMatch(mods, /tweetnacl|spa-client|\/cap\/|commander|pino|execa/, mods);
      rmSync(logf, { force: true });
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

// ---------------------------------------------------------------------------------------------
// real wire: our knock vs Debian's /usr/bin/knock, captured with tcpdump in a netns pair

interface WirePkt { src: string; proto: 'tcp' | 'udp'; dport: number; flags?: number; payload: string }

/** Minimal pcap (EN10MB) reader: IPv4/IPv6 TCP/UDP only. */
function readPcap(buf: Buffer): WirePkt[] {
  const out: WirePkt[] = [];
  if (buf.length < 24) return out;
  const magic = buf.readUInt32LE(0);
  const le = magic === 0xa1b2c3d4 || magic === 0xa1b23c4d;
  const u32 = (o: number) => (le ? buf.readUInt32LE(o) : buf.readUInt32BE(o));
  let off = 24;
  while (off + 16 <= buf.length) {
    const incl = u32(off + 8);
    const f = buf.subarray(off + 16, off + 16 + incl);
    off += 16 + incl;
    if (f.length < 14) continue;
    const et = f.readUInt16BE(12);
    let l4: Buffer, proto: number, src: string;
    if (et === 0x0800) {
      const ihl = (f[14]! & 0x0f) * 4;
      proto = f[23]!;
      src = [...f.subarray(26, 30)].join('.');
      const total = f.readUInt16BE(16);
      l4 = f.subarray(14 + ihl, 14 + total);
    } else if (et === 0x86dd) {
      proto = f[20]!;
      const words: string[] = [];
      for (let i = 0; i < 8; i++) words.push(f.readUInt16BE(22 + 2 * i).toString(16));
      src = words.join(':');
      l4 = f.subarray(54, 54 + f.readUInt16BE(18));
    } else continue;
    if (proto === 6 && l4.length >= 20) {
      const doff = (l4[12]! >> 4) * 4;
      out.push({ src, proto: 'tcp', dport: l4.readUInt16BE(2), flags: l4[13]!, payload: l4.subarray(doff).toString('hex') });
    } else if (proto === 17 && l4.length >= 8) {
      out.push({ src, proto: 'udp', dport: l4.readUInt16BE(2), payload: l4.subarray(8, l4.readUInt16BE(4)).toString('hex') });
    }
  }
  return out;
}

/** expanded (uncompressed, no leading zeros) IPv6 text as readPcap renders it */
function expand6(a: string): string {
  const [h, t] = a.split('::') as [string, string | undefined];
  const hw = h ? h.split(':') : [];
  const tw = t ? t.split(':') : [];
  const words = t === undefined ? hw : [...hw, ...new Array<string>(8 - hw.length - tw.length).fill('0'), ...tw];
  return words.map((w) => parseInt(w, 16).toString(16)).join(':');
}

async function capture(pair: NetnsPair, dir: string, name: string, knockCmd: string[], family: 4 | 6): Promise<WirePkt[]> {
  const file = join(dir, `${name}.pcap`);
  const td = pair.spawn(pair.server, 'tcpdump', ['-i', pair.serverIf, '-n', '-U', '-Z', 'root', '-s', '256', '-w', file, 'tcp or udp']);
  const ready = new Promise<void>((resolve, reject) => {
    let e = '';
    const t = setTimeout(() => reject(new Error(`tcpdump not ready: ${e}`)), 10000);
    td.stderr?.on('data', (d: Buffer) => { e += d.toString(); if (/listening on/.test(e)) { clearTimeout(t); resolve(); } });
  });
  await ready;
  const r = await pair.run(pair.client, knockCmd[0]!, knockCmd.slice(1), { timeoutMs: 20000 });
  assert.equal(r.code, 0, `${name} exit; stderr=${r.stderr}`);
  // longer than the first SYN retransmission timeout (1 s): a retransmitted SYN would show up
  await new Promise((res) => setTimeout(res, 1600));
  const exited = new Promise<void>((res) => td.once('exit', () => res()));
  process.kill(td.pid!, 'SIGTERM');
  await exited;
  const client = family === 4 ? pair.clientV4 : expand6(pair.clientV6);
  return readPcap(readFileSync(file)).filter((p) => p.src === client);
}

const ourKnock = fileURLToPath(new URL('../../src/cli/knock.js', import.meta.url));
const ourRunner = `import(${JSON.stringify(ourKnock)}).then(async (m) => { process.exitCode = await m.knockMain(process.argv.slice(1), { out: (s) => process.stdout.write(s), err: (s) => process.stderr.write(s) }); })`;

test('wire: one SYN per TCP hit (no retransmission when dropped), one 0x00 byte per UDP hit, in order; same as Debian knock', async (t) => {
  const skip = e2eSkipReason();
  if (skip) { t.skip(skip); return; }
  const tcpdumpOk = (await import('node:child_process')).spawnSync('tcpdump', ['--version']).error === undefined;
  if (!tcpdumpOk) { t.skip('tcpdump not installed'); return; }
  const debianOk = (await import('node:fs')).existsSync('/usr/bin/knock');
  const pair = await createPair('h6wire');
  const dir = mkdtempSync(join(tmpdir(), 'h6wire-'));
  try {
    // 7001 is silently dropped (no RST comes back: the kernel would retransmit if the socket lived)
    for (const tool of ['iptables', 'ip6tables']) {
      const r = await pair.run(pair.server, tool, ['-A', 'INPUT', '-p', 'tcp', '--dport', '7001', '-j', 'DROP']);
      assert.equal(r.code, 0, r.stderr);
    }
    const ports = ['7001', '7002:udp', '7003', '7004:UDP', '7005:udp', '7001'];
    const want = [
      { proto: 'tcp', dport: 7001 }, { proto: 'udp', dport: 7002 }, { proto: 'tcp', dport: 7003 },
      { proto: 'tcp', dport: 7004 }, { proto: 'udp', dport: 7005 }, { proto: 'tcp', dport: 7001 },
    ];
    for (const fam of [4, 6] as const) {
      const host = fam === 4 ? pair.serverV4 : pair.serverV6;
      const ours = await capture(pair, dir, `ours${fam}`, [process.execPath, '-e', ourRunner, '--', '-d', '20', host, ...ports], fam);
      assert.deepEqual(ours.map((p) => ({ proto: p.proto, dport: p.dport })), want, `ours v${fam}: ${JSON.stringify(ours)}`);
      for (const p of ours) {
        if (p.proto === 'tcp') { assert.equal(p.flags, 0x02, 'plain SYN'); assert.equal(p.payload, ''); }
        else assert.equal(p.payload, '00', 'one 0x00 byte');
      }
      if (!debianOk) { t.diagnostic('no /usr/bin/knock: comparison skipped'); continue; }
      const theirs = await capture(pair, dir, `debian${fam}`, ['/usr/bin/knock', '-d', '20', host, ...ports], fam);
      assert.deepEqual(ours.map((p) => [p.proto, p.dport, p.flags, p.payload]), theirs.map((p) => [p.proto, p.dport, p.flags, p.payload]),
        `ours vs Debian knock v${fam}`);
    }
  } finally {
    await pair.cleanup();
    rmSync(dir, { recursive: true, force: true });
  }
});

test('wire: -r 3 puts three plain SYNs / three 0x00 datagrams per hit on the wire, hit by hit', async (t) => {
  const skip = e2eSkipReason();
  if (skip) { t.skip(skip); return; }
  const tcpdumpOk = (await import('node:child_process')).spawnSync('tcpdump', ['--version']).error === undefined;
  if (!tcpdumpOk) { t.skip('tcpdump not installed'); return; }
  const pair = await createPair('h6rep');
  const dir = mkdtempSync(join(tmpdir(), 'h6rep-'));
  try {
    const got = await capture(pair, dir, 'rep', [process.execPath, '-e', ourRunner, '--', '-r', '3', pair.serverV4, '7001', '7002:udp', '7003'], 4);
    assert.deepEqual(got.map((p) => `${p.proto}/${p.dport}/${p.flags ?? ''}/${p.payload}`),
      ['tcp/7001/2/', 'tcp/7001/2/', 'tcp/7001/2/', 'udp/7002//00', 'udp/7002//00', 'udp/7002//00', 'tcp/7003/2/', 'tcp/7003/2/', 'tcp/7003/2/']);
  } finally {
    await pair.cleanup();
    rmSync(dir, { recursive: true, force: true });
  }
});

// ---------------------------------------------------------------------------------------------
// SPA routes: knock --keygen / --spa reach src/cli/spa-client.ts (loaded on demand)

test('--keygen writes a key (refuses overwrite without --force); --spa sends one datagram', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'h6spa-'));
  const dgram = await import('node:dgram');
  const rx = dgram.createSocket('udp4');
  try {
    const key = join(dir, 'sub', 'key');
    const io = () => { const r = { out: '', err: '' }; return { r, io: { out: (s: string) => { r.out += s; }, err: (s: string) => { r.err += s; } } }; };
    const a = io();
    assert.equal(await knockMain(['--keygen', '--key', key, '--type', 'ed25519'], a.io), 0, a.r.err);
    assert.equal(statSync(key).mode & 0o777, 0o600);
    assert.match(a.r.out, /wrote private key/);
    const b = io();
    assert.notEqual(await knockMain(['--keygen', '--key', key], b.io), 0, 'second keygen without --force must fail');
    assert.match(b.r.err, /\S/);
    const c = io();
    assert.equal(await knockMain(['--key', key, '--force', '--keygen'], c.io), 0, c.r.err);

    await new Promise<void>((r) => rx.bind(0, '127.0.0.1', () => r()));
    const port = rx.address().port;
    const got: Buffer[] = [];
    rx.on('message', (m) => got.push(m));
    const d = io();
    assert.equal(await knockMain(['127.0.0.1', '--spa', '-4', '--key', key, '--spa-port', String(port), '--ttl', '30', '-v'], d.io), 0, d.r.err);
    for (let i = 0; i < 100 && got.length < 1; i++) await new Promise((r) => setTimeout(r, 10));
    assert.equal(got.length, 1, 'one SPA datagram');
    assert.ok(got[0]!.length > 40, `datagram length ${got[0]!.length}`);
    assert.match(d.r.out, /SPA knock sent to 127\.0\.0\.1/);
    const e = io();
    assert.notEqual(await knockMain(['--spa', '--key', join(dir, 'missing'), '127.0.0.1'], e.io), 0);
    assert.match(e.r.err, /^knock: /);
  } finally {
    rx.close();
    rmSync(dir, { recursive: true, force: true });
  }
});
