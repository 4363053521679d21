/**
 * NftChannel against test/fixtures/bin/fake-nft (same output conventions as nft 1.0.6 -j -i).
 * The real nft is exercised in test/e2e/nft-channel.test.ts.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { NftChannel, batchProblem, type NftChannelEvent, type NftChannelOptions } from '../../src/io/nft.js';
import { nftCloseLines, nftOpenLines, type NftTarget } from '../../src/core/firewall/nft.js';
import { parseIp, type Ip } from '../../src/core/ip.js';
import { isAppError } from '../../src/core/errors.js';
import { fixture } from '../helpers/paths.js';

const FAKE = fixture('bin', 'fake-nft');
const SETS = 'inet knockd allowed4=ipv4_addr,inet knockd allowed6=ipv6_addr,inet knockd ssh4=ipv4_addr . inet_proto . inet_service,inet knockd plain!=ipv4_addr';
const T4: NftTarget = { set: { family: 'inet', table: 'knockd', set: 'allowed4' }, family: 4, element: 'addr', ports: [{ port: 22, proto: 'tcp' }] };
const TP: NftTarget = { set: { family: 'inet', table: 'knockd', set: 'ssh4' }, family: 4, element: 'addr-port', ports: [{ port: 22, proto: 'tcp' }, { port: 53, proto: 'udp' }] };
const ip = (s: string): Ip => parseIp(s) as Ip;
const open4 = (a: string, ms = 30_000): string[] => { const p = nftOpenLines(T4, ip(a), ms, { lease: 'l1', key: 'alice' }); assert.ok(p.ok); return p.lines; };

interface Fx { dir: string; log: string; events: NftChannelEvent[]; opts(extra?: Record<string, string>, o?: NftChannelOptions): NftChannelOptions; logLines(): Array<{ pid: number; line: string }> }

function fx(): Fx {
  const dir = mkdtempSync(join(tmpdir(), 'nft-'));
  const log = join(dir, 'log');
  const events: NftChannelEvent[] = [];
  return {
    dir, log, events,
    opts: (extra = {}, o = {}) => ({
      command: [FAKE], env: { FAKE_NFT_SETS: SETS, FAKE_NFT_STATE: join(dir, 'state'), FAKE_NFT_LOG: log, ...extra },
      onEvent: (e) => events.push(e), ackTimeoutMs: 3000, ...o,
    }),
    logLines: () => readFileSync(log, 'utf8').trim().split('\n').map((l) => JSON.parse(l) as { pid: number; line: string }),
  };
}

async function withChannel(f: Fx, o: NftChannelOptions, fn: (ch: NftChannel) => Promise<void>): Promise<void> {
  const ch = await NftChannel.open(o);
  try { await fn(ch); } finally { await ch.close(); rmSync(f.dir, { recursive: true, force: true }); }
}

test('open: nft missing, a set missing, without flags timeout, of the wrong type, unexpected output -> ERR_NFT', async () => {
  const f = fx();
  const cases: Array<[NftChannelOptions, RegExp]> = [
    [{ ...f.opts(), command: ['/nonexistent/nft'] }, /\/nonexistent\/nft: not an executable file \(install nftables\)/],
    [{ ...f.opts(), command: ['knockd-no-such-nft'] }, /knockd-no-such-nft not found in PATH/],
    [{ ...f.opts(), targets: [{ ...T4, set: { ...T4.set, set: 'nope' } }] }, /^nft set inet knockd nope: Error: No such file or directory \(create the sets with: knockd firewall --print nft \| nft -f -\)$/],
    [{ ...f.opts(), targets: [{ ...T4, set: { ...T4.set, set: 'plain' } }] }, /^nft set inet knockd plain: it has no "flags timeout"/],
    [{ ...f.opts(), targets: [{ ...T4, set: { ...T4.set, set: 'ssh4' } }] }, /^nft set inet knockd ssh4: its type is ipv4_addr \. inet_proto \. inet_service, the door needs ipv4_addr /],
  ];
  for (const [o, re] of cases) {
    await assert.rejects(NftChannel.open(o), (e) => isAppError(e) && e.code === 'ERR_NFT' && re.test(e.message), String(re));
  }
  await assert.rejects(NftChannel.open(f.opts({ FAKE_NFT_BANNER: 'nft> hello' })),
    (e) => isAppError(e) && e.code === 'ERR_NFT' && /^nft -i did not start: unexpected output from nft: "nft> hello"/.test(e.message), 'a banner would be read as every batch\'s output');
  const ok = await NftChannel.open(f.opts({}, { targets: [T4, TP] }));
  await ok.close();
  rmSync(f.dir, { recursive: true, force: true });
});

test('apply: one batch = one nft line; list shows the element with its timeout and owner', async () => {
  const f = fx();
  await withChannel(f, f.opts(), async (ch) => {
    assert.deepEqual(await ch.apply(open4('192.0.2.1')), { ok: true });
    const l = await ch.list(T4.set);
    assert.ok(l.ok);
    assert.deepEqual(l.elements, [{ key: '192.0.2.1', ip: '192.0.2.1', family: 4, timeoutMs: 30000, expiresMs: 29000, comment: 'knockd lease=l1 key=alice', owner: { lease: 'l1', key: 'alice' } }]);
    const close = nftCloseLines(T4, ip('192.0.2.1'));
    assert.ok(close.ok);
    assert.deepEqual(await ch.apply(close.lines), { ok: true });
    assert.deepEqual(await ch.apply(close.lines), { ok: true }, 'closing an absent element is no error');
    const after = await ch.list(T4.set);
    assert.ok(after.ok);
    assert.deepEqual(after.elements, []);
    const sent = f.logLines().map((x) => x.line).filter((x) => !x.startsWith('knockd_ack_'));
    assert.equal(sent[0], open4('192.0.2.1').join('; '));
  });
});

test('errors are attributed to their own batch when batches are pipelined; a failed batch applies nothing', async () => {
  const f = fx();
  await withChannel(f, f.opts(), async (ch) => {
    const bad = ['add element inet knockd allowed4 { 192.0.2.7 timeout 5s }', 'delete element inet knockd allowed4 { 192.0.2.99 }'];
    const rs = await Promise.all([ch.apply(open4('192.0.2.5')), ch.apply(bad), ch.apply(open4('192.0.2.6')), ch.apply(['add element inet knockd nosuch { 192.0.2.8 }'])]);
    assert.deepEqual(rs[0], { ok: true });
    assert.equal(rs[1]?.ok, false);
    assert.match((rs[1] as { error: string }).error, /^Error: Could not process rule: No such file or directory\nadd element inet knockd allowed4 \{ 192\.0\.2\.7 timeout 5s \}; delete element inet knockd allowed4 \{ 192\.0\.2\.99 \}\n +\^+$/);
    assert.deepEqual(rs[2], { ok: true });
    assert.match((rs[3] as { error: string }).error, /^Error: No such file or directory\nadd element inet knockd nosuch/);
    const l = await ch.list(T4.set);
    assert.ok(l.ok);
    assert.deepEqual(l.elements.map((e) => e.ip).sort(), ['192.0.2.5', '192.0.2.6'], 'the failed transaction added nothing');
  });
});

test('apply refuses lines that would change how nft splits them, without sending anything', async () => {
  const bad: string[][] = [[], ['add element inet k s { 1.2.3.4 }\nflush ruleset'], ['add element inet k s { 1.2.3.4 } # x'],
    ['add element inet k s { 1.2.3.4 }; flush ruleset'], ['quit'], ['add element inet k s { 1.2.3.4 } \\'], ['add element inet k s { "é" }']];
  for (const b of bad) assert.notEqual(batchProblem(b, 1 << 20), undefined, JSON.stringify(b));
  assert.match(batchProblem(['add element inet k s { 1.2.3.4 }'], 10) ?? '', /^batch of \d+ bytes, at most 10$/);
  const f = fx();
  await withChannel(f, f.opts(), async (ch) => {
    const r = await ch.apply(['add element inet knockd allowed4 { 1.2.3.4 }; flush ruleset']);
    assert.equal(r.ok, false);
    assert.ok(!f.logLines().some((x) => x.line.includes('flush')));
  });
});

test('nft dies with a batch in flight: that result is unknown, nft is restarted, later batches apply', async () => {
  const f = fx();
  await withChannel(f, f.opts({ FAKE_NFT_EXIT_ON: '192\\.0\\.2\\.66' }), async (ch) => {
    assert.deepEqual(await ch.apply(open4('192.0.2.65')), { ok: true });
    const pid1 = ch.stats.pid;
    const r = await ch.apply(open4('192.0.2.66'));
    assert.equal(r.ok, false);
    assert.equal((r as { unknown?: boolean }).unknown, true);
    assert.deepEqual(await ch.apply(open4('192.0.2.67')), { ok: true }, 'queued until the restart, then sent');
    assert.notEqual(ch.stats.pid, pid1);
    assert.ok(f.events.some((e) => e.kind === 'exit') && f.events.some((e) => e.kind === 'restart'));
    const l = await ch.list(T4.set);
    assert.ok(l.ok);
    assert.deepEqual(l.elements.map((e) => e.ip).sort(), ['192.0.2.65', '192.0.2.67']);
  });
});

test('no answer within ackTimeoutMs: unknown, nft is killed and replaced; the queue is bounded', async () => {
  const f = fx();
  await withChannel(f, f.opts({ FAKE_NFT_HANG_ON: '192\\.0\\.2\\.77' }, { ackTimeoutMs: 400, maxQueued: 2, maxInFlight: 1 }), async (ch) => {
    const hung = ch.apply(open4('192.0.2.77'));
    const q1 = ch.apply(open4('192.0.2.78'));
    const q2 = ch.apply(open4('192.0.2.79'));
    assert.deepEqual(await ch.apply(open4('192.0.2.80')), { ok: false, error: 'nft queue full (2 batches waiting)' });
    const h = await hung;
    assert.equal(h.ok, false);
    assert.equal((h as { unknown?: boolean }).unknown, true);
    assert.match((h as { error: string }).error, /no answer from nft within 400 ms/);
    assert.deepEqual(await q1, { ok: true });
    assert.deepEqual(await q2, { ok: true });
  });
});

test('the nft process is replaced every recycleAfter batches, without reordering or losing a batch', async () => {
  const f = fx();
  await withChannel(f, f.opts({}, { recycleAfter: 5 }), async (ch) => {
    // The limit is soft: the old process takes batches until its successor has answered, so
    // go on until three replacements happened (bounded by count and time, not by speed).
    const recycles = (): number => f.events.filter((e) => e.kind === 'recycle').length;
    const end = Date.now() + 20_000;
    let n = 0;
    while ((recycles() < 3 || n < 30) && n < 3000 && Date.now() < end) {
      const burst = Array.from({ length: 10 }, () => ch.apply(open4(`198.51.${100 + (++n >> 8)}.${n & 255}`)));
      assert.ok((await Promise.all(burst)).every((r) => r.ok));
    }
    assert.ok(recycles() >= 3, `recycles ${recycles()} after ${n} batches`);
    assert.ok(ch.stats.children >= 4, `children ${ch.stats.children}`);
    const batches = f.logLines().filter((x) => !x.line.startsWith('knockd_ack_'));
    const seq = batches.map((x) => { const m = /198\.51\.(\d+)\.(\d+) /.exec(x.line); return (Number(m?.[1]) - 100) * 256 + Number(m?.[2]); });
    assert.deepEqual(seq, Array.from({ length: n }, (_, i) => i + 1), 'sent in apply() order');
    // a process never gets a batch after its successor got one
    const order = [...new Set(batches.map((x) => x.pid))];
    let last = -1;
    for (const b of batches) { const i = order.indexOf(b.pid); assert.ok(i >= last); last = i; }
    const l = await ch.list(T4.set);
    assert.ok(l.ok);
    assert.equal(l.elements.length, n);
  });
});

test('output without "Error:" is a success with a warning event; addr-port elements round-trip through list', async () => {
  const f = fx();
  await withChannel(f, f.opts({ FAKE_NFT_SAY: '203\\.0\\.113\\.9' }), async (ch) => {
    const p = nftOpenLines(TP, ip('203.0.113.9'), 5000);
    assert.ok(p.ok);
    assert.deepEqual(await ch.apply(p.lines), { ok: true });
    assert.deepEqual(f.events.filter((e) => e.kind === 'warning'), [{ kind: 'warning', text: 'Warning: something' }]);
    const l = await ch.list(TP.set);
    assert.ok(l.ok);
    assert.deepEqual(l.elements.map((e) => [e.key, e.proto, e.port, e.owner]), [['203.0.113.9 . tcp . 22', 'tcp', 22, {}], ['203.0.113.9 . udp . 53', 'udp', 53, {}]]);
  });
});

test('close: batches already accepted finish, later ones are refused, nft exits', async () => {
  const f = fx();
  const ch = await NftChannel.open(f.opts());
  const pending = ch.apply(open4('192.0.2.20'));
  const closing = ch.close();
  assert.deepEqual(await ch.apply(open4('192.0.2.21')), { ok: false, error: 'nft channel closed' });
  assert.deepEqual(await pending, { ok: true });
  await closing;
  const pid = ch.stats.pid as number;
  assert.throws(() => process.kill(pid, 0), /ESRCH/);
  rmSync(f.dir, { recursive: true, force: true });
});

test('the default command is `nft` looked up in PATH', async () => {
  const f = fx();
  const bin = join(f.dir, 'bin');
  mkdirSync(bin);
  symlinkSync(FAKE, join(bin, 'nft'));
  const saved = process.env['PATH'];
  process.env['PATH'] = `${bin}:${saved ?? ''}`;
  try {
    const { command: _unused, ...o } = f.opts();
    await withChannel(f, o, async (ch) => {
      assert.deepEqual(await ch.apply(open4('192.0.2.30')), { ok: true });
      assert.equal(f.logLines()[0]?.pid, ch.stats.pid, 'the fake on PATH answered');
    });
  } finally {
    process.env['PATH'] = saved;
  }
});
