/**
 * The smallest privilege set, measured (docs/PRIVILEGES.md):
 *   - packet capture (the `cap` module, as the daemon uses it) works as an unprivileged uid with
 *     CAP_NET_RAW alone, and fails without it;
 *   - iptables (nf_tables backend) and nft work with CAP_NET_ADMIN alone; iptables-legacy also
 *     needs CAP_NET_RAW (and a lock file it may open); with no capability they fail;
 *   - the client (`knock` and plain UDP/TCP hits) needs no capability at all.
 *
 * Everything happens in a network namespace this test creates (veth to the host, no default
 * route), as uid/gid 65534 with capabilities dropped by setpriv(1). Root-only: skips otherwise.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync, type SpawnSyncReturns } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, chownSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { repoRoot } from '../helpers/paths.js';

const NOBODY = 65534;
const CAP_NET_ADMIN = 12, CAP_NET_RAW = 13;
const pid = process.pid;
const NS = `h7p${pid}`;
const VH = `h7h${pid}`.slice(0, 15);   // host end
const VN = `h7n${pid}`.slice(0, 15);   // namespace end
const A = 200 + (pid % 50), B = (pid >> 6) % 256;
const HOST_IP = `10.${A}.${B}.1`, NS_IP = `10.${A}.${B}.2`;

function sh(cmd: string, args: string[], opts: { env?: NodeJS.ProcessEnv } = {}): SpawnSyncReturns<string> {
  return spawnSync(cmd, args, { encoding: 'utf8', cwd: repoRoot, timeout: 20_000, ...opts });
}
function must(cmd: string, args: string[]): string {
  const r = sh(cmd, args);
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')} failed (${r.status}): ${r.stderr}`);
  return r.stdout;
}
const have = (c: string) => sh('sh', ['-c', `command -v ${c}`]).status === 0;

/** setpriv arguments: uid/gid 65534, no groups, exactly `caps` (names without CAP_) in every set. */
function drop(caps: string[]): string[] {
  const list = ['-all', ...caps.map((c) => `+${c}`)].join(',');
  const a = ['setpriv', `--reuid=${NOBODY}`, `--regid=${NOBODY}`, '--clear-groups', `--inh-caps=${list}`, `--bounding-set=${list}`];
  if (caps.length > 0) a.push(`--ambient-caps=${list}`);
  return [...a, '--'];
}
const inNs = (argv: string[]) => ['ip', ['netns', 'exec', NS, ...argv]] as const;
const capMask = (...bits: number[]) => bits.reduce((m, b) => m | (1n << BigInt(b)), 0n);

/** A capture with `cap`, reporting which of the wanted (proto/port) hits it saw, and its CapEff. */
const CAPTURE = String.raw`
const fs = require('fs');
const capEff = /CapEff:\s*([0-9a-f]+)/.exec(fs.readFileSync('/proc/self/status', 'utf8'))[1];
const [dev, filter, wantJson] = process.argv.slice(1);
const want = new Set(JSON.parse(wantJson));
const say = (o) => process.stdout.write(JSON.stringify({ uid: process.getuid(), capEff, ...o }) + '\n');
let c;
try {
  const { Cap } = require('cap');
  c = new Cap();
  const buf = Buffer.alloc(65535);
  c.open(dev, filter, 1 << 20, buf);
  const seen = new Set();
  c.on('packet', (n) => {
    const f = Buffer.from(buf.subarray(0, n));
    if (f.readUInt16BE(12) !== 0x0800) return;
    const ihl = (f[14] & 15) * 4, proto = f[23] === 6 ? 'tcp' : f[23] === 17 ? 'udp' : '?';
    seen.add(proto + '/' + f.readUInt16BE(14 + ihl + 2));
    if ([...want].every((w) => seen.has(w))) { say({ ok: true, seen: [...seen].sort() }); c.close(); process.exit(0); }
  });
  say({ ready: true });
  setTimeout(() => { say({ ok: false, error: 'timeout', seen: [...seen].sort() }); process.exit(4); }, 8000);
} catch (e) {
  say({ ok: false, error: String(e && e.message || e) });
  process.exit(3);
}`;

/** Plain client hits, as knock sends them: a UDP datagram and a TCP connect (SYN). */
const HITS = String.raw`
const fs = require('fs'), dgram = require('dgram'), net = require('net');
const capEff = /CapEff:\s*([0-9a-f]+)/.exec(fs.readFileSync('/proc/self/status', 'utf8'))[1];
const [ip, udpPort, tcpPort] = process.argv.slice(1);
const s = dgram.createSocket('udp4');
s.send(Buffer.from('hit'), Number(udpPort), ip, (err) => {
  s.close();
  const t = net.connect({ host: ip, port: Number(tcpPort) });
  const done = (how) => { t.destroy(); process.stdout.write(JSON.stringify({ uid: process.getuid(), capEff, udp: err ? String(err) : 'sent', tcp: how }) + '\n'); };
  t.on('connect', () => done('connected'));
  t.on('error', (e) => done(e.code));
  t.setTimeout(3000, () => done('timeout'));
});`;

interface CapResult { uid: number; capEff: string; ok?: boolean; ready?: boolean; error?: string; seen?: string[] }

/** Starts a capture in the namespace under `caps`; resolves when it is ready (or has failed). */
function startCapture(caps: string[], want: string[]): Promise<{ first: CapResult; done: Promise<CapResult> }> {
  const filter = `dst host ${NS_IP} and (udp or tcp) and dst portrange 7000-7003`;
  const [cmd, args] = inNs([...drop(caps), process.execPath, '-e', CAPTURE, VN, filter, JSON.stringify(want)]);
  const child = spawn(cmd, [...args], { cwd: repoRoot, stdio: ['ignore', 'pipe', 'pipe'] });
  const lines: CapResult[] = [];
  let buf = '', stderr = '';
  let onLine: (() => void) | undefined;
  child.stdout.setEncoding('utf8').on('data', (d: string) => {
    buf += d;
    for (let i = buf.indexOf('\n'); i >= 0; i = buf.indexOf('\n')) {
      lines.push(JSON.parse(buf.slice(0, i)) as CapResult);
      buf = buf.slice(i + 1);
      onLine?.();
    }
  });
  child.stderr.setEncoding('utf8').on('data', (d: string) => { stderr += d; });
  const exited = new Promise<void>((res) => child.on('exit', () => res()));
  const killTimer = setTimeout(() => { if (child.pid) { try { process.kill(child.pid, 'SIGKILL'); } catch { /* gone */ } } }, 15_000);
  const lineAt = (n: number) => new Promise<CapResult>((res, rej) => {
    const check = () => { if (lines.length > n) res(lines[n] as CapResult); };
    onLine = check; check();
    void exited.then(() => { check(); rej(new Error(`capture exited without output line ${n}: ${stderr}`)); });
  });
  return lineAt(0).then((first) => ({
    first,
    done: (first.ready ? lineAt(1) : Promise.resolve(first)).finally(() => clearTimeout(killTimer)),
  }));
}

function setUp(): void {
  must('ip', ['netns', 'add', NS]);
  must('ip', ['link', 'add', VH, 'type', 'veth', 'peer', 'name', VN]);
  must('ip', ['link', 'set', VN, 'netns', NS]);
  must('ip', ['addr', 'add', `${HOST_IP}/30`, 'dev', VH]);
  must('ip', ['link', 'set', VH, 'up']);
  must('ip', ['netns', 'exec', NS, 'ip', 'addr', 'add', `${NS_IP}/30`, 'dev', VN]);
  must('ip', ['netns', 'exec', NS, 'ip', 'link', 'set', VN, 'up']);
  must('ip', ['netns', 'exec', NS, 'ip', 'link', 'set', 'lo', 'up']);
  // house rules: traffic only over our veth; the namespace has no default route
  assert.match(must('ip', ['route', 'get', NS_IP]), new RegExp(`dev ${VH}\\b`));
  assert.equal(must('ip', ['netns', 'exec', NS, 'ip', 'route', 'show', 'default']).trim(), '');
}
function tearDown(): void {
  sh('ip', ['netns', 'del', NS]);
  sh('ip', ['link', 'del', VH]); // normally gone with the namespace
}

const skipReason = (): string | undefined => {
  if (process.getuid?.() !== 0) return 'needs root (network namespaces, setpriv)';
  for (const c of ['ip', 'setpriv', 'iptables']) if (!have(c)) return `${c} not installed`;
  if (!existsSync(join(repoRoot, 'node_modules', 'cap'))) return 'the cap module is not installed';
  return undefined;
};

test('privileges: capture needs CAP_NET_RAW only; firewall commands CAP_NET_ADMIN; the client nothing', async (t) => {
  const why = skipReason();
  if (why) { t.skip(why); return; }
  const knockJs = fileURLToPath(new URL('../../src/cli/knock.js', import.meta.url));
  const lockDir = mkdtempSync(join(tmpdir(), 'h7-xtlock-'));
  chownSync(lockDir, NOBODY, NOBODY);
  setUp();
  try {
    await t.test('capture without capabilities fails', async () => {
      for (const caps of [[], ['net_admin']]) {
        const { first } = await startCapture(caps, ['udp/7000']);
        assert.equal(first.uid, NOBODY);
        assert.equal(BigInt(`0x${first.capEff}`), caps.length ? capMask(CAP_NET_ADMIN) : 0n);
        assert.equal(first.ok, false, `capture must fail with caps [${caps.join(',')}]`);
        assert.match(first.error ?? '', /permi|not permitted|EPERM|socket/i);
        t.diagnostic(`capture as uid 65534 with [${caps.join(',') || 'no caps'}]: ${first.error}`);
      }
    });

    await t.test('capture with CAP_NET_RAW alone sees hits sent by an unprivileged client', async () => {
      const useKnock = existsSync(knockJs);
      const want = ['udp/7000', 'tcp/7001', ...(useKnock ? ['tcp/7002', 'udp/7003'] : [])];
      const cap = await startCapture(['net_raw'], want);
      assert.equal(cap.first.ready, true, JSON.stringify(cap.first));
      assert.equal(cap.first.uid, NOBODY);
      assert.equal(BigInt(`0x${cap.first.capEff}`), capMask(CAP_NET_RAW));
      // client side: host namespace, uid 65534, every capability set empty
      const hits = sh(drop([])[0] as string, [...drop([]).slice(1), process.execPath, '-e', HITS, NS_IP, '7000', '7001']);
      assert.equal(hits.status, 0, hits.stderr);
      const h = JSON.parse(hits.stdout) as { uid: number; capEff: string; udp: string; tcp: string };
      assert.equal(h.uid, NOBODY);
      assert.equal(BigInt(`0x${h.capEff}`), 0n);
      assert.equal(h.udp, 'sent');
      assert.equal(h.tcp, 'ECONNREFUSED'); // the SYN went out and the namespace answered RST
      if (useKnock) {
        const script = `const m = await import(${JSON.stringify(new URL('../../src/cli/knock.js', import.meta.url).href)});` +
          'process.exitCode = await m.knockMain(process.argv.slice(1), { out: (s) => process.stdout.write(s), err: (s) => process.stderr.write(s) });';
        const k = sh(drop([])[0] as string, [...drop([]).slice(1), process.execPath, '--input-type=module', '-e', script, '--', '-v', NS_IP, '7002', '7003:udp']);
        assert.equal(k.status, 0, `knock as uid 65534 without capabilities: ${k.stderr}`);
        t.diagnostic(`knock (no caps): ${k.stdout.trim().replace(/\n/g, ' | ')}`);
      } else {
        t.diagnostic(`compiled knock client not found at ${knockJs}: only plain UDP/TCP hits were sent`);
      }
      const res = await cap.done;
      assert.equal(res.ok, true, JSON.stringify(res));
      assert.deepEqual(res.seen, [...want].sort());
    });

    const rule = ['-A', 'INPUT', '-s', HOST_IP, '-p', 'tcp', '--dport', '22', '-m', 'comment', '--comment', `h7-${pid}`, '-j', 'ACCEPT'];
    const del = ['-D', ...rule.slice(1)];
    const ruleCount = (bin: string) => must('ip', ['netns', 'exec', NS, bin, '-S', 'INPUT']).split('\n').filter((l) => l.includes(`h7-${pid}`)).length;
    const asNobody = (caps: string[], argv: string[], env?: NodeJS.ProcessEnv) => {
      const [cmd, args] = inNs([...drop(caps), ...argv]);
      return sh(cmd, [...args], env ? { env: { ...process.env, ...env } } : {});
    };

    await t.test('iptables (nf_tables backend): CAP_NET_ADMIN alone is enough, none is not', () => {
      const v = must('iptables', ['--version']);
      if (!/nf_tables/.test(v)) { t.diagnostic(`iptables is ${v.trim()}: nf_tables case not applicable`); return; }
      const none = asNobody([], ['iptables', ...rule]);
      assert.notEqual(none.status, 0);
      t.diagnostic(`iptables -A, no caps: exit ${none.status}: ${none.stderr.trim()}`);
      const raw = asNobody(['net_raw'], ['iptables', ...rule]);
      assert.notEqual(raw.status, 0, 'CAP_NET_RAW alone must not be enough');
      assert.equal(ruleCount('iptables'), 0);
      const admin = asNobody(['net_admin'], ['iptables', ...rule]);
      assert.equal(admin.status, 0, admin.stderr);
      assert.equal(ruleCount('iptables'), 1);
      const both = asNobody(['net_admin', 'net_raw'], ['iptables', ...del]);
      assert.equal(both.status, 0, both.stderr);
      assert.equal(ruleCount('iptables'), 0);
    });

    await t.test('nft: CAP_NET_ADMIN alone is enough, none is not', (tt) => {
      if (!have('nft')) { tt.skip('nft not installed'); return; }
      const table = `h7t${pid}`;
      assert.notEqual(asNobody([], ['nft', 'add', 'table', 'inet', table]).status, 0);
      const ok = asNobody(['net_admin'], ['nft', 'add', 'table', 'inet', table]);
      assert.equal(ok.status, 0, ok.stderr);
      assert.match(must('ip', ['netns', 'exec', NS, 'nft', 'list', 'tables']), new RegExp(`table inet ${table}`));
    });

    await t.test('iptables-legacy: needs CAP_NET_ADMIN + CAP_NET_RAW and a lock file it can open', (tt) => {
      if (!have('iptables-legacy')) { tt.skip('iptables-legacy not installed'); return; }
      const env = { XTABLES_LOCKFILE: join(lockDir, 'xtables.lock') };
      const admin = asNobody(['net_admin'], ['iptables-legacy', '-w', ...rule], env);
      assert.notEqual(admin.status, 0, 'legacy iptables must need CAP_NET_RAW as well');
      t.diagnostic(`iptables-legacy, CAP_NET_ADMIN only: exit ${admin.status}: ${admin.stderr.trim().split('\n')[0]}`);
      const noLock = asNobody(['net_admin', 'net_raw'], ['iptables-legacy', '-w', ...rule], { XTABLES_LOCKFILE: '/run/xtables.lock' });
      if (existsSync('/run/xtables.lock')) {
        // root-owned 0600 lock file: uid 65534 cannot open it
        assert.notEqual(noLock.status, 0);
        t.diagnostic(`iptables-legacy, both caps, /run/xtables.lock: exit ${noLock.status}: ${noLock.stderr.trim()}`);
      }
      const both = asNobody(['net_admin', 'net_raw'], ['iptables-legacy', '-w', ...rule], env);
      assert.equal(both.status, 0, both.stderr);
      assert.equal(ruleCount('iptables-legacy'), 1);
      assert.equal(asNobody(['net_admin', 'net_raw'], ['iptables-legacy', '-w', ...del], env).status, 0);
      assert.equal(ruleCount('iptables-legacy'), 0);
    });
  } finally {
    tearDown();
    rmSync(lockDir, { recursive: true, force: true });
  }
  assert.equal(sh('ip', ['netns', 'exec', NS, 'true']).status === 0, false, 'namespace removed');
});
