/**
 * The nat flag end to end (issue 12.1b), with a real source NAT: the client namespace rewrites
 * its outgoing source address (iptables SNAT, inside the client namespace only), so the server
 * sees an address the client does not know. Without --nat the signed local address does not
 * match (source-mismatch); --nat for a key without the permission is policy-nat; after
 * `knockd keys set alice --nat` the door opens for the address the server sees.
 * (The MASQUERADE-router e2e with a STUN server is the client side's, test/helpers/nat.ts.)
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { e2eSkipReason } from '../helpers/root.js';
import { createPair, runCmd } from '../helpers/netns.js';
import { guardService, waitProbe } from '../helpers/service.js';
import { auditRecords, guardedDoor, startDaemon, stopDaemon, waitFor, workdir, writeConfig } from '../helpers/daemon.js';
import { bin } from '../helpers/paths.js';

const skip = e2eSkipReason();
const PORT = 2222;

test('--nat: source-mismatch without it, policy-nat without the permission, the seen address opened with both', { skip }, async () => {
  const pair = await createPair('snat');
  const w = workdir('spanat');
  try {
    await guardService(pair, PORT, 4);
    writeConfig(w, pair.serverIf, guardedDoor('ssh', PORT, '\tspa = yes', 30));
    const home = join(w.dir, 'home');
    mkdirSync(home, { mode: 0o700 });
    const key = join(home, 'key');
    assert.equal((await runCmd(process.execPath, [bin('knock'), '--keygen', '--key', key])).code, 0);
    const add = await runCmd(process.execPath, [bin('knockd'), '-c', w.conf, 'keys', 'add', 'alice', readFileSync(`${key}.enrol`, 'utf8').trim(), '--doors', 'ssh']);
    assert.equal(add.code, 0, add.stderr);
    // the "NAT": every packet leaving the client namespace gets the source .3 (answered by ARP there)
    const natted = pair.clientV4.replace(/\.\d+$/, '.3');
    for (const args of [['ip', 'addr', 'add', `${natted}/24`, 'dev', pair.clientIf],
      ['iptables', '-t', 'nat', '-A', 'POSTROUTING', '-o', pair.clientIf, '-j', 'SNAT', '--to-source', natted]]) {
      const r = await pair.run(pair.client, args[0] as string, args.slice(1));
      assert.equal(r.code, 0, `${args.join(' ')}: ${r.stderr}`);
    }
    const d = await startDaemon(pair, w);
    try {
      const knock = async (...extra: string[]) => {
        const k = await pair.run(pair.client, process.execPath, [bin('knock'), '--spa', '--key', key, ...extra, pair.serverV4]);
        assert.equal(k.code, 0, k.stderr);
      };
      const reasons = () => auditRecords(w).filter((r) => r.event === 'knock.reject').map((r) => r.reason);
      await knock();
      let rs = await waitFor(reasons, (x) => x.includes('source-mismatch'), 3000);
      assert.deepEqual(rs, ['source-mismatch'], 'the signed local address is not what the server sees');
      await knock('--nat');
      rs = await waitFor(reasons, (x) => x.includes('policy-nat'), 3000);
      assert.deepEqual(rs, ['source-mismatch', 'policy-nat'], 'the key has no nat permission');
      assert.equal(await waitProbe(pair, pair.serverV4, PORT, true, 1000), false);

      const set = await runCmd(process.execPath, [bin('knockd'), '-c', w.conf, 'keys', 'set', 'alice', '--nat']);
      assert.equal(set.code, 0, set.stderr + set.stdout);
      assert.match(set.stdout, /applied it/, 'keys set returns once the daemon has the change');
      await knock('--nat');
      assert.equal(await waitProbe(pair, pair.serverV4, PORT, true, 5000), true, 'the door opens for the address the server sees');
      const open = auditRecords(w).find((r) => r.event === 'door.open');
      assert.equal(open?.ip, natted);
      assert.equal(open?.src, natted);
      assert.ok(auditRecords(w).some((r) => r.event === 'key.set' && (r.fields as { nat?: boolean }).nat === true));
    } finally {
      await stopDaemon(d);
    }
  } finally {
    await pair.cleanup();
  }
});
