/**
 * Knocking from behind NAT (issue 12.1 a), end to end: client → real MASQUERADE router → server,
 * with Debian's coturn as the STUN server in the router's outside network. `knock --spa
 * --allow-ip auto` learns the router's outside address and opens the door for it; the same knock
 * signing the client's inside address is refused by the server (source-mismatch) and opens nothing.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, readFileSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { e2eSkipReason } from '../helpers/root.js';
import { createNat } from '../helpers/nat.js';
import { runCmd } from '../helpers/netns.js';
import { guardService, probe, waitProbe } from '../helpers/service.js';
import { auditRecords, guardedDoor, startDaemon, stopDaemon, waitFor, workdir, writeConfig } from '../helpers/daemon.js';
import { bin } from '../helpers/paths.js';

const skip = e2eSkipReason() ?? (spawnSync('turnserver', ['--help'], { stdio: 'ignore' }).error ? "coturn's turnserver not installed (scripts/setup.sh installs it)" : undefined);
const PORT = 2222;

test('behind a real MASQUERADE router, knock --allow-ip auto (coturn STUN) opens the door for the router\'s outside address', { skip }, async () => {
  const nat = await createNat('stun');
  const w = workdir('natstun');
  try {
    const stun = await nat.startStun();
    await guardService(nat, PORT, 4);
    writeConfig(w, nat.serverIf, guardedDoor('ssh', PORT, '\tspa = yes', 10));
    const home = join(w.dir, 'home');
    mkdirSync(join(home, '.knock'), { recursive: true, mode: 0o700 });
    const key = join(home, '.knock', 'key');
    assert.equal((await runCmd(process.execPath, [bin('knock'), '--keygen', '--key', key])).code, 0);
    const add = await runCmd(process.execPath, [bin('knockd'), '-c', w.conf, 'keys', 'add', 'bob', readFileSync(`${key}.enrol`, 'utf8').trim(), '--doors', 'ssh']);
    assert.equal(add.code, 0, add.stderr);
    const d = await startDaemon(nat, w);
    try {
      assert.equal(await probe(nat, nat.serverV4, PORT), false, 'closed before any knock');
      // without auto the client signs its inside address: refused, as a NAT user sees today
      const plain = await nat.run(nat.client, process.execPath, [bin('knock'), '--spa', '--key', key, nat.serverV4]);
      assert.equal(plain.code, 0, plain.stderr);
      const mism = await waitFor(() => auditRecords(w), (r) => r.some((x) => x.event === 'knock.reject'), 5000);
      assert.ok(mism.some((x) => x.event === 'knock.reject' && x.reason === 'source-mismatch'), JSON.stringify(mism));
      assert.equal(await probe(nat, nat.serverV4, PORT), false);

      const k = await nat.run(nat.client, process.execPath, [bin('knock'), '--spa', '--key', key, '-v', '--allow-ip', 'auto',
        '--stun', `${stun.host}:${stun.port}`, nat.serverV4]);
      assert.equal(k.code, 0, k.stderr);
      assert.match(k.stdout, new RegExp(`open for ${nat.routerOutsideV4.replace(/\./g, '\\.')} \\(learned from STUN server ${stun.host.replace(/\./g, '\\.')}:3478`));
      assert.equal(await waitProbe(nat, nat.serverV4, PORT, true, 5000), true, 'the door did not open for the NAT address');
      const open = auditRecords(w).find((r) => r.event === 'door.open');
      assert.equal(open?.ip, nat.routerOutsideV4);
    } finally {
      await stopDaemon(d);
    }
  } finally {
    await nat.cleanup();
  }
  // nothing of ours is left on the host
  const ns = await runCmd('ip', ['netns', 'list']);
  assert.doesNotMatch(ns.stdout, /kts-nat-stun-/);
});
