/**
 * The daemon (bin/knockd) with nftables set doors, real nft and real pcap inside a namespace
 * pair, the ruleset from `knockd firewall --print nft`, a probe loop connecting every ~40 ms
 * from the client namespace. An SPA door (`ssh`, addr elements) and a classic door (`web`,
 * addr-port elements):
 *   - an SPA knock opens the port through the set (the element carries lease and key;
 *     `knockd status` shows it with its owner and time left), no command is run;
 *   - a re-knock refreshes it with no failed connection in between; it closes at the new expiry;
 *   - the classic sequence opens its own port only;
 *   - SIGKILL of the daemon: the door still closes on time (the kernel's timeout);
 *   - a restarted daemon reconciles the element it finds (door.rearm), and revoking the key
 *     deletes it at once.
 * IPv4 and IPv6.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, rmSync } from 'node:fs';
import { createPair } from '../helpers/netns.js';
import { startListener } from '../helpers/service.js';
import { loadRuleset, nftSkipReason, ProbeLoop, type Attempt } from '../helpers/nft.js';
import { auditRecords, enrolKey, startDaemon, stopDaemon, waitFor, workdir, writeConfig, sleep, type RunningDaemon } from '../helpers/daemon.js';
import { bin } from '../helpers/paths.js';

const skip = nftSkipReason();
const TTL = 3;          // seconds asked by the SPA client for the quick parts
const LONG = 8;         // the doors' cmd_timeout: room for a restart in the reconcile part
const DOORS = `[ssh]
\tspa = yes
\tports = 2201
\tcmd_timeout = ${LONG}
\tnft_set = inet knockd ssh4
\tnft_set_6 = inet knockd ssh6
[web]
\tsequence = 7000,8000,9000
\tseq_timeout = 10
\ttcpflags = syn
\tports = 2202
\tcmd_timeout = ${TTL}
\tnft_set = inet knockd web4
\tnft_set_6 = inet knockd web6
\tnft_element = addr-port
`;

const failedBetween = (a: readonly Attempt[], from: number, to: number): Attempt[] => a.filter((x) => x.start >= from && x.end <= to && !x.ok);
/** Start of the first failed attempt after `from` (the moment the door was found closed). */
const closedAt = (a: readonly Attempt[], from: number): number | undefined => a.find((x) => x.start >= from && !x.ok)?.start;

for (const family of [4, 6] as const) {
  test(`knockd with nft set doors over IPv${family}: open, refresh, classic door, SIGKILL (closes on time), reconcile, revocation`, { skip }, async (t) => {
    const pair = await createPair(`nd${family}`);
    const w = workdir(`nftd${family}`);
    let d: RunningDaemon | undefined;
    const loops: ProbeLoop[] = [];
    try {
      const host = family === 4 ? pair.serverV4 : pair.serverV6;
      const client = family === 4 ? pair.clientV4 : pair.clientV6;
      const set = `inet knockd ssh${family}`;
      writeConfig(w, pair.serverIf, DOORS);
      for (const port of [2201, 2202]) await startListener(pair, port, family);
      await loadRuleset(pair, w.conf, w.dir);
      const key = await enrolKey(w, 'alice', 'ssh');
      const fam = family === 4 ? '-4' : '-6';
      const spa = async (ttl?: number): Promise<number> => {
        const t0 = Date.now();
        const k = await pair.run(pair.client, process.execPath, [bin('knock'), '--spa', '--key', key, fam, ...(ttl ? ['--ttl', String(ttl)] : []), host]);
        assert.equal(k.code, 0, k.stderr);
        return t0;
      };
      const status = async (): Promise<Array<Record<string, unknown>>> => {
        const r = await pair.run(pair.server, process.execPath, [bin('knockd'), '-c', w.conf, 'status', '--json']);
        assert.equal(r.code, 0, r.stderr);
        return (JSON.parse(r.stdout) as { doors: Array<Record<string, unknown>> }).doors;
      };
      d = await startDaemon(pair, w);
      const loop = new ProbeLoop(pair, host, 2201, { intervalMs: 40, attemptMs: 500, maxMs: 170_000 });
      loops.push(loop);
      await loop.started();
      assert.equal(await loop.waitFor(false, 5000), true, 'closed before any knock');

      // open through the set
      const k1 = await spa(TTL);
      assert.equal(await loop.waitFor(true, 5000, k1), true, 'the SPA knock opened the port');
      const open = (await waitFor(() => auditRecords(w), (r) => r.some((x) => x.event === 'door.open'), 3000)).find((x) => x.event === 'door.open');
      assert.deepEqual([open?.set, open?.ip, open?.grantedTtl], [set, client, TTL]);
      const st = (await status()).find((x) => x.set === set);
      assert.equal(st?.id, open?.lease);
      assert.equal((st?.principal as { key?: string } | undefined)?.key, 'alice');
      assert.ok(Number(st?.remainingMs) > 0 && Number(st?.remainingMs) <= TTL * 1000, `status: ${JSON.stringify(st)}`);

      // refresh before the first timeout: open past it with no failed connection; closes at the new expiry
      const firstOk = loop.attempts.find((x) => x.start >= k1 && x.ok) as Attempt;
      await sleep(Math.max(0, k1 + 1500 - Date.now()));
      const k2 = await spa(TTL);
      assert.equal(await loop.waitFor(false, TTL * 1000 + 5000, k2 + 1000), true, 'closed after the refreshed timeout');
      const c1 = closedAt(loop.attempts, firstOk.start) as number;
      assert.deepEqual(failedBetween(loop.attempts, firstOk.start, c1 - 1), [], 'no gap while refreshed');
      assert.ok(c1 > k1 + TTL * 1000 + 300, `open past the first timeout (closed ${c1 - k1} ms after the first knock)`);
      assert.ok(c1 < k2 + TTL * 1000 + 2500, `closed ${c1 - k2} ms after the re-knock (timeout ${TTL} s)`);
      t.diagnostic(`first knock → closed: ${c1 - k1} ms; re-knock → closed: ${c1 - k2} ms`);
      assert.ok((await waitFor(() => auditRecords(w), (r) => r.some((x) => x.event === 'door.close'), 3000)).some((x) => x.event === 'door.close' && x.reason === 'timeout' && x.set === set));

      // the classic door opens its own port only
      const k3 = Date.now();
      const seq = await pair.run(pair.client, process.execPath, [bin('knock'), fam, host, '7000', '8000', '9000']);
      assert.equal(seq.code, 0, seq.stderr);
      const web = new ProbeLoop(pair, host, 2202, { intervalMs: 40, attemptMs: 500, maxMs: 30_000 });
      loops.push(web);
      await web.started();
      assert.equal(await web.waitFor(true, 5000, k3), true, 'the sequence opened port 2202');
      assert.deepEqual(loop.attempts.filter((x) => x.start > k3 + 500 && x.ok), [], 'and not 2201');
      assert.doesNotMatch(readFileSync(w.log, 'utf8'), /running command/, 'no door command ran: no process per knock');

      // SIGKILL: the kernel closes the door on time
      const k4 = await spa(TTL);
      assert.equal(await loop.waitFor(true, 5000, k4), true);
      d.child.kill('SIGKILL');
      await d.exited;
      d = undefined;
      assert.equal(await loop.waitFor(false, TTL * 1000 + 5000, k4 + 500), true, 'closed without the daemon');
      const c2 = closedAt(loop.attempts, k4 + 500) as number;
      assert.ok(c2 < k4 + TTL * 1000 + 2500, `closed ${c2 - k4} ms after the knock (timeout ${TTL} s)`);
      t.diagnostic(`daemon SIGKILLed; knock → closed by the kernel: ${c2 - k4} ms`);

      // restart: reconcile takes over the element it finds; revoking the key deletes it at once
      d = await startDaemon(pair, w);
      const k5 = await spa();
      assert.equal(await loop.waitFor(true, 5000, k5), true);
      await stopDaemon(d, 'SIGKILL');
      d = await startDaemon(pair, w);
      const rearm = await waitFor(() => auditRecords(w), (r) => r.some((x) => x.event === 'door.rearm'), 5000);
      const lease = rearm.filter((x) => x.event === 'door.open').at(-1)?.lease;
      assert.deepEqual(rearm.filter((x) => x.event === 'door.rearm').map((x) => [x.lease, x.set]), [[lease, set]]);
      const rv = Date.now();
      const r = await pair.run(pair.server, process.execPath, [bin('knockd'), '-c', w.conf, 'keys', 'revoke', 'alice']);
      assert.equal(r.code, 0, r.stderr + r.stdout);
      assert.equal(await loop.waitFor(false, 4000, rv), true, 'revocation closed the reconciled door');
      const c3 = closedAt(loop.attempts, rv) as number;
      assert.ok(c3 < k5 + LONG * 1000 - 1000, 'before its own timeout');
      const close = (await waitFor(() => auditRecords(w), (x) => x.some((y) => y.event === 'door.close' && y.reason === 'revoked'), 3000))
        .find((x) => x.event === 'door.close' && x.reason === 'revoked');
      assert.equal(close?.lease, lease);
      t.diagnostic(`revoked → closed: ${c3 - rv} ms`);
    } finally {
      for (const l of loops) await l.stop();
      if (d) await stopDaemon(d);
      await pair.cleanup();
      rmSync(w.dir, { recursive: true, force: true });
    }
  });
}

test('knockd refuses to start with one line when a set does not exist or nft is missing (ERR_NFT)', { skip }, async () => {
  const pair = await createPair('ndx');
  const w = workdir('nftdx');
  try {
    writeConfig(w, pair.serverIf, DOORS);
    const start = (env: string[]) => pair.run(pair.server, 'env', [...env, process.execPath, bin('knockd'), '-c', w.conf], { timeoutMs: 20_000 });
    const noSet = await start([]);
    assert.equal(noSet.code, 1);
    assert.match(noSet.stderr, /^knockd: nft set inet knockd ssh4: Error: No such file or directory.*\(create the sets with: knockd firewall --print nft \| nft -f -\) \[ERR_NFT\]\n$/);
    const noNft = await start(['PATH=/nonexistent']);
    assert.equal(noNft.code, 1);
    assert.match(noNft.stderr, /^knockd: nft not found in PATH \(\/nonexistent\); install nftables \[ERR_NFT\]\n$/);
  } finally {
    await pair.cleanup();
    rmSync(w.dir, { recursive: true, force: true });
  }
});
