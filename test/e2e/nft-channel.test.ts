/**
 * NftChannel with the real nft (1.0.6 here) inside a namespace pair, the ruleset loaded from
 * `knockd firewall --print nft`, a TCP listener on the guarded ports and a probe loop in the
 * client namespace connecting every ~40 ms:
 *   - an element added with a timeout opens the port for the client (and only its door's port);
 *   - refreshes (add; delete; add in one transaction) keep it open past its first timeout with
 *     no failed connection in between; delete closes it;
 *   - the kernel closes it on time after the process holding the channel is SIGKILLed, and a new
 *     channel lists the element with its owner meanwhile (what reconcile reads).
 * IPv4 and IPv6.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createPair, type NetnsPair } from '../helpers/netns.js';
import { startListener, waitForLine } from '../helpers/service.js';
import { loadRuleset, nftSkipReason, ProbeLoop, type Attempt } from '../helpers/nft.js';
import { NftChannel } from '../../src/io/nft.js';
import { nftCloseLines, nftOpenLines, nftTarget, nftTargets, type NftTarget } from '../../src/core/firewall/nft.js';
import { loadConfig } from '../../src/io/read-config.js';
import { parseIp, type Ip } from '../../src/core/ip.js';
import type { Config } from '../../src/core/config/types.js';

const skip = nftSkipReason();
const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));
const CONF = '[ssh]\nspa = yes\nports = 2201\nnft_set = inet knockd ssh4\nnft_set_6 = inet knockd ssh6\n'
  + '[web]\nsequence = 7000\nports = 2202\nnft_set = inet knockd web4\nnft_set_6 = inet knockd web6\nnft_element = addr-port\n';

async function setup(tag: string): Promise<{ pair: NetnsPair; dir: string; config: Config }> {
  const pair = await createPair(tag);
  const dir = mkdtempSync(join(tmpdir(), `${tag}-`));
  try {
    writeFileSync(join(dir, 'k.conf'), CONF);
    const config = loadConfig(join(dir, 'k.conf'));
    for (const f of [4, 6] as const) for (const port of [2201, 2202]) await startListener(pair, port, f);
    await loadRuleset(pair, join(dir, 'k.conf'), dir);
    return { pair, dir, config };
  } catch (e) {
    await pair.cleanup();
    rmSync(dir, { recursive: true, force: true });
    throw e;
  }
}

const lines = (p: ReturnType<typeof nftOpenLines>): string[] => { assert.ok(p.ok, p.ok ? '' : p.error); return p.lines; };
const failures = (a: readonly Attempt[], from: number, to: number): Attempt[] => a.filter((x) => x.start >= from && x.end <= to && !x.ok);

for (const family of [4, 6] as const) {
  test(`NftChannel, IPv${family}: an element opens the door port, refreshes keep it open with no gap, delete closes it`, { skip }, async (t) => {
    const { pair, dir, config } = await setup(`nftch${family}`);
    const host = family === 4 ? pair.serverV4 : pair.serverV6;
    const client = parseIp(family === 4 ? pair.clientV4 : pair.clientV6) as Ip;
    const ssh = nftTarget(config.doors[0]!, family) as NftTarget;
    const web = nftTarget(config.doors[1]!, family) as NftTarget;
    const ch = await NftChannel.open({ command: ['ip', 'netns', 'exec', pair.server, 'nft'], targets: nftTargets(config) });
    const loop = new ProbeLoop(pair, host, 2201);
    try {
      await loop.started();
      assert.equal(await loop.waitFor(false, 5000), true, 'closed before the element is added');

      const tOpen = Date.now();
      assert.deepEqual(await ch.apply(lines(nftOpenLines(ssh, client, 3000, { lease: 'e2e-1', key: 'alice' }))), { ok: true });
      assert.equal(await loop.waitFor(true, 5000, tOpen), true, 'the element opened the port');
      const firstOk = loop.attempts.find((x) => x.start >= tOpen && x.ok) as Attempt;

      // refresh every 0.5 s for 6 s with a 3 s timeout: without the refreshes it would close at ~3 s
      const r0 = Date.now();
      let refreshes = 0;
      while (Date.now() - r0 < 6000) {
        assert.deepEqual(await ch.apply(lines(nftOpenLines(ssh, client, 3000, { lease: 'e2e-1', key: 'alice' }))), { ok: true });
        refreshes++;
        await sleep(500);
      }
      const l = await ch.list(ssh.set);
      assert.ok(l.ok);
      assert.deepEqual(l.elements.map((e) => [e.ip, e.timeoutMs, e.owner]), [[client.text, 3000, { lease: 'e2e-1', key: 'alice' }]]);

      assert.deepEqual(await ch.apply(lines(nftCloseLines(ssh, client))), { ok: true });
      const tClose = Date.now();
      assert.equal(await loop.waitFor(false, 3000, tClose), true, 'delete closed the port');
      const during = loop.attempts.filter((x) => x.start >= firstOk.start && x.end <= tClose);
      assert.ok(during.length >= 20, `only ${during.length} probes during ${tClose - firstOk.start} ms`);
      assert.deepEqual(failures(loop.attempts, firstOk.start, tClose), [], `a connection failed while the door was open (${refreshes} refreshes)`);
      assert.ok(tClose - firstOk.start > 5000, 'open longer than the 3 s timeout: the refreshes extended it');
      t.diagnostic(`${refreshes} refreshes, ${during.length} probes over ${tClose - firstOk.start} ms, none failed`);

      // addr-port: the element admits its own door port only
      assert.deepEqual(await ch.apply(lines(nftOpenLines(web, client, 10_000))), { ok: true });
      const other = new ProbeLoop(pair, host, 2202);
      try {
        await other.started();
        assert.equal(await other.waitFor(true, 5000), true, 'web door port open');
      } finally { await other.stop(); }
      const tWeb = Date.now();
      await sleep(500);
      assert.deepEqual(loop.attempts.filter((x) => x.start >= tWeb && x.ok), [], 'the ssh port stays closed');
    } finally {
      await loop.stop();
      await ch.close();
      await pair.cleanup();
      rmSync(dir, { recursive: true, force: true });
    }
  });
}

test('the kernel closes the door on time after the process holding the channel is SIGKILLed (IPv4 and IPv6)', { skip }, async (t) => {
  const { pair, dir, config } = await setup('nftkill');
  const TTL = 3000;
  const holderCode = `
const { NftChannel } = await import(${JSON.stringify(new URL('../../src/io/nft.js', import.meta.url).href)});
const f = await import(${JSON.stringify(new URL('../../src/core/firewall/nft.js', import.meta.url).href)});
const { parseIp } = await import(${JSON.stringify(new URL('../../src/core/ip.js', import.meta.url).href)});
const { loadConfig } = await import(${JSON.stringify(new URL('../../src/io/read-config.js', import.meta.url).href)});
const [ns, conf, c4, c6, ttl] = process.argv.slice(1);
const config = loadConfig(conf);
const ch = await NftChannel.open({ command: ['ip', 'netns', 'exec', ns, 'nft'], targets: f.nftTargets(config) });
for (const [fam, c] of [[4, c4], [6, c6]]) {
  const r = await ch.apply(f.nftOpenLines(f.nftTarget(config.doors[0], fam), parseIp(c), Number(ttl), { lease: 'k' + fam, key: 'bob' }).lines);
  if (!r.ok) { console.error(r.error); process.exit(3); }
}
console.log('added ' + Date.now());
setInterval(() => {}, 1000);`;
  const holder = spawn(process.execPath, ['--input-type=module', '-e', holderCode, pair.server, join(dir, 'k.conf'), pair.clientV4, pair.clientV6, String(TTL)], { stdio: ['ignore', 'pipe', 'pipe'] });
  const loops = [new ProbeLoop(pair, pair.serverV4, 2201), new ProbeLoop(pair, pair.serverV6, 2201)];
  try {
    await Promise.all(loops.map((l) => l.started()));
    let out = '';
    holder.stdout?.on('data', (d: Buffer) => { out += d.toString(); });
    await waitForLine(holder, /added \d+/, 15_000, 'channel holder');
    const added = Number(/added (\d+)/.exec(out)?.[1]);
    for (const l of loops) assert.equal(await l.waitFor(true, 3000, added), true, 'open after the add');

    holder.kill('SIGKILL');
    const tKill = Date.now();
    // its nft child sees end of input and exits: nothing of the holder is left in the namespace
    let left: string[] = [];
    for (const end = Date.now() + 5000; Date.now() < end; await sleep(100)) {
      const pids = (await pair.run(pair.server, 'sh', ['-c', 'for p in $(ip netns pids $(ip netns identify $$)); do cat /proc/$p/comm; done'])).stdout;
      left = pids.split('\n').filter((c) => c === 'nft');
      if (left.length === 0) break;
    }
    assert.deepEqual(left, [], 'the nft child exited with its parent');

    // a new channel reads the elements and their owners (what reconcile after a restart sees)
    const ch = await NftChannel.open({ command: ['ip', 'netns', 'exec', pair.server, 'nft'] });
    try {
      for (const [set, lease] of [[config.doors[0]!.nft!.set4!, 'k4'], [config.doors[0]!.nft!.set6!, 'k6']] as const) {
        const l = await ch.list(set);
        assert.ok(l.ok);
        assert.equal(l.elements.length, 1);
        assert.deepEqual(l.elements[0]?.owner, { lease, key: 'bob' });
        assert.ok((l.elements[0]?.expiresMs ?? Infinity) <= TTL);
      }
    } finally { await ch.close(); }

    for (const l of loops) {
      assert.equal(await l.waitFor(false, added + TTL + 4000 - Date.now(), added + TTL - 100), true, 'the kernel closed the door');
      const a = l.attempts;
      assert.ok(a.some((x) => x.start > tKill && x.ok), 'still open after the SIGKILL');
      assert.deepEqual(failures(a, added, added + TTL - 300), [], 'closed early');
      const firstFail = a.find((x) => x.start > added && !x.ok) as Attempt;
      assert.ok(firstFail.start <= added + TTL + 1000, `closed ${firstFail.start - added - TTL} ms after its timeout`);
      const lastOk = [...a].reverse().find((x) => x.ok && x.start < firstFail.start) as Attempt;
      t.diagnostic(`timeout ${TTL} ms after the add: last open probe at +${lastOk.start - added} ms, first closed at +${firstFail.start - added} ms`);
    }
  } finally {
    if (holder.exitCode === null && holder.signalCode === null) holder.kill('SIGKILL');
    await Promise.all(loops.map((l) => l.stop()));
    await pair.cleanup();
    rmSync(dir, { recursive: true, force: true });
  }
});
