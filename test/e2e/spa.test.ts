/**
 * SPA end to end, over a veth between two namespaces, with real pcap capture and real iptables:
 * `knock --spa` opens a guarded TCP service that closes after the door's timeout; the same
 * datagram captured with tcpdump and re-sent opens nothing (also after a daemon restart);
 * a revoked key opens nothing and revoking closes the key's open door. IPv4 and IPv6.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, readFileSync, existsSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { e2eSkipReason } from '../helpers/root.js';
import { createPair, runCmd, type NetnsPair } from '../helpers/netns.js';
import { guardService, probe, waitProbe } from '../helpers/service.js';
import { workdir, writeConfig, startDaemon, stopDaemon, auditRecords, guardedDoor, waitFor, sleep, type Workdir } from '../helpers/daemon.js';
import { bin } from '../helpers/paths.js';
import { resend, spaPayloads, SPA_PORT } from '../helpers/spa-capture.js';

const skip = e2eSkipReason() ?? (existsSync('/usr/bin/tcpdump') || existsSync('/usr/sbin/tcpdump') ? undefined : 'tcpdump not installed');
const PORT = 2222;

async function enrol(pair: NetnsPair, w: Workdir, name: string): Promise<string> {
  const home = join(w.dir, `home-${name}`);
  mkdirSync(join(home, '.knock'), { recursive: true, mode: 0o700 });
  const key = join(home, '.knock', 'key');
  const g = await runCmd(process.execPath, [bin('knock'), '--keygen', '--key', key]);
  assert.equal(g.code, 0, g.stderr);
  const pub = readFileSync(`${key}.enrol`, 'utf8').trim();
  const a = await runCmd(process.execPath, [bin('knockd'), '-c', w.conf, 'keys', 'add', name, pub, '--doors', 'ssh']);
  assert.equal(a.code, 0, a.stderr + a.stdout);
  void pair;
  return key;
}

for (const family of [4, 6] as const) {
  test(`SPA over IPv${family}: opens, closes after the timeout; a captured datagram replayed (also after restart) opens nothing`, { skip }, async () => {
    const pair = await createPair(`sp${family}`);
    const w = workdir(`spa${family}`);
    try {
      await guardService(pair, PORT, family);
      const server = family === 4 ? pair.serverV4 : pair.serverV6;
      writeConfig(w, pair.serverIf, guardedDoor('ssh', PORT, '\tspa = yes', 3));
      const key = await enrol(pair, w, 'alice');
      let d = await startDaemon(pair, w);
      const pcap = join(w.dir, 'spa.pcap');
      const dump = pair.spawn(pair.server, 'tcpdump', ['-i', pair.serverIf, '-U', '-n', '-w', pcap, 'udp', 'dst', 'port', String(SPA_PORT)]);
      try {
        await sleep(1000); // tcpdump needs a moment before it captures
        assert.equal(await probe(pair, server, PORT), false);
        const k = await pair.run(pair.client, process.execPath, [bin('knock'), '--spa', '--key', key, family === 4 ? '-4' : '-6', server]);
        assert.equal(k.code, 0, k.stderr);
        assert.equal(await waitProbe(pair, server, PORT, true, 5000), true, 'SPA knock did not open the door');
        assert.equal(await waitProbe(pair, server, PORT, false, 10000), false, 'door did not close after its timeout');
        const open = auditRecords(w).find((r) => r.event === 'door.open');
        assert.ok(open);
        assert.deepEqual((open.principal as Record<string, unknown>).key, 'alice');
        assert.equal(open.ip, family === 4 ? pair.clientV4 : pair.clientV6);

        await sleep(300);
        dump.kill('SIGINT');
        await new Promise((r) => dump.once('exit', r));
        const captured = spaPayloads(pcap);
        assert.equal(captured.length, 1, 'expected exactly one SPA datagram on the wire');

        // replay while the daemon still runs
        await resend(pair, server, captured[0] as Uint8Array);
        assert.equal(await waitProbe(pair, server, PORT, true, 1500), false, 'replayed datagram opened the door');
        let rejects = await waitFor(() => auditRecords(w), (r) => r.some((x) => x.event === 'knock.reject' && x.reason === 'replayed'), 3000);
        assert.ok(rejects.some((x) => x.event === 'knock.reject' && x.reason === 'replayed'), 'replay not audited as replayed');

        // replay after a restart: the replay record was persisted
        await stopDaemon(d);
        d = await startDaemon(pair, w);
        await resend(pair, server, captured[0] as Uint8Array);
        assert.equal(await waitProbe(pair, server, PORT, true, 1500), false, 'replay after restart opened the door');
        rejects = await waitFor(() => auditRecords(w), (r) => r.filter((x) => x.reason === 'replayed').length >= 2, 3000);
        assert.equal(rejects.filter((x) => x.event === 'knock.reject' && x.reason === 'replayed').length, 2);
        assert.equal(auditRecords(w).filter((r) => r.event === 'door.open').length, 1, 'only the genuine knock may open');
      } finally {
        if (dump.exitCode === null) dump.kill('SIGKILL');
        await stopDaemon(d);
      }
    } finally {
      await pair.cleanup();
    }
  });
}

test('revoking a key closes its open door at once, and its next knock opens nothing', { skip }, async () => {
  const pair = await createPair('spr');
  const w = workdir('spar');
  try {
    await guardService(pair, PORT, 4);
    writeConfig(w, pair.serverIf, guardedDoor('ssh', PORT, '\tspa = yes', 60));
    const key = await enrol(pair, w, 'bob');
    const d = await startDaemon(pair, w);
    try {
      const k = await pair.run(pair.client, process.execPath, [bin('knock'), '--spa', '--key', key, pair.serverV4]);
      assert.equal(k.code, 0, k.stderr);
      assert.equal(await waitProbe(pair, pair.serverV4, PORT, true, 5000), true);
      const rv = await runCmd(process.execPath, [bin('knockd'), '-c', w.conf, 'keys', 'revoke', 'bob']);
      assert.equal(rv.code, 0, rv.stderr);
      assert.equal(await waitProbe(pair, pair.serverV4, PORT, false, 5000), false, 'revoking did not close the open door');
      const recs = await waitFor(() => auditRecords(w), (r) => r.some((x) => x.event === 'door.close'), 3000);
      assert.ok(recs.some((x) => x.event === 'door.close' && x.reason === 'revoked'));
      await pair.run(pair.client, process.execPath, [bin('knock'), '--spa', '--key', key, pair.serverV4]);
      assert.equal(await waitProbe(pair, pair.serverV4, PORT, true, 1500), false, 'revoked key opened the door');
      const after = await waitFor(() => auditRecords(w), (r) => r.some((x) => x.reason === 'revoked' && x.event === 'knock.reject'), 3000);
      assert.ok(after.some((x) => x.event === 'knock.reject' && x.reason === 'revoked'));
    } finally {
      await stopDaemon(d);
    }
  } finally {
    await pair.cleanup();
  }
});

test('SPAMode = socket (no pcap for SPA): junk is dropped, a knock over IPv4 and IPv6 opens the door', { skip }, async () => {
  const pair = await createPair('spso');
  const w = workdir('spasock');
  try {
    await guardService(pair, PORT, 4);
    await guardService(pair, PORT, 6);
    writeConfig(w, pair.serverIf, guardedDoor('ssh', PORT, '\tspa = yes', 2), `\tSPAMode = socket\n\tSPAPort = ${SPA_PORT}`);
    const key = await enrol(pair, w, 'alice');
    const d = await startDaemon(pair, w);
    try {
      // junk of every length around the request bounds, then a stale-looking "KN" datagram
      const js = `const d=require('node:dgram').createSocket('udp4');let n=0;const L=[0,1,50,105,106,150,186,187,300,1400];
for(const l of L){const b=Buffer.alloc(l,0x41);if(l>2){b[0]=0x4b;b[1]=0x4e;}d.send(b,${SPA_PORT},process.argv[1],()=>{if(++n===L.length)d.close();});}`;
      const j = await pair.run(pair.client, process.execPath, ['-e', js, pair.serverV4]);
      assert.equal(j.code, 0, j.stderr);
      for (const [fam, server] of [[4, pair.serverV4], [6, pair.serverV6]] as const) {
        assert.equal(await probe(pair, server, PORT), false);
        const k = await pair.run(pair.client, process.execPath, [bin('knock'), '--spa', '--key', key, `-${fam}`, server]);
        assert.equal(k.code, 0, k.stderr);
        assert.equal(await waitProbe(pair, server, PORT, true, 5000), true, `socket-mode SPA knock over IPv${fam} did not open the door\n${d.stderr().slice(-2000)}`);
      }
      assert.equal(d.child.exitCode, null, 'daemon still running');
      const opens = auditRecords(w).filter((r) => r.event === 'door.open');
      assert.deepEqual(opens.map((r) => r.ip), [pair.clientV4, pair.clientV6]);
    } finally { await stopDaemon(d); }
  } finally {
    await pair.cleanup();
    rmSync(w.dir, { recursive: true, force: true });
  }
});
