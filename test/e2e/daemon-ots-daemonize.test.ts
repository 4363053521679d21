/**
 * One-time sequences through the running daemon (knockd 0.8 crashes on the last line, lets a
 * sequence be reused after an invalid line, and never updates its IPv6 filter), and `-d`.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync, readFileSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import { e2eSkipReason } from '../helpers/root.js';
import { createPair, runCmd } from '../helpers/netns.js';
import { guardService, waitProbe } from '../helpers/service.js';
import { workdir, writeConfig, startDaemon, stopDaemon, auditRecords, guardedDoor, waitFor, sleep } from '../helpers/daemon.js';
import { bin } from '../helpers/paths.js';

const skip = e2eSkipReason();

test('one-time sequences: each line opens once, IPv6 uses the rotated line, the last line disables the door without a crash', { skip }, async () => {
  const pair = await createPair('ots');
  const w = workdir('ots');
  try {
    await guardService(pair, 2222, 4);
    await guardService(pair, 2222, 6);
    const ots = join(w.dir, 'ots.txt');
    writeFileSync(ots, '7701,7702\n# comment\nnot-a-sequence\n7711,7712:udp\n');
    writeConfig(w, pair.serverIf, guardedDoor('once', 2222, `\tone_time_sequences = ${ots}`, 1));
    const d = await startDaemon(pair, w);
    const knock = (fam: 4 | 6, ...ports: string[]) =>
      pair.run(pair.client, process.execPath, [bin('knock'), fam === 4 ? pair.serverV4 : pair.serverV6, ...ports]);
    try {
      await knock(4, '7701', '7702');
      assert.equal(await waitProbe(pair, pair.serverV4, 2222, true, 5000), true, 'first one-time sequence did not open');
      assert.equal(await waitProbe(pair, pair.serverV4, 2222, false, 6000), false);
      assert.match(readFileSync(ots, 'utf8'), /^#7701,7702\n/, 'used line not marked (whole line kept, # prepended)');

      await knock(4, '7701', '7702');
      assert.equal(await waitProbe(pair, pair.serverV4, 2222, true, 1500), false, 'a used one-time sequence opened again');

      // the rotated sequence must work over IPv6 too (knockd never updates its IPv6 filter).
      // Probe first, as the other IPv6 tests do: it resolves the server's IPv6 neighbour, so the
      // knock's single SYN is not the packet that waits for neighbour discovery.
      assert.equal(await waitProbe(pair, pair.serverV6, 2222, false, 3000), false);
      await knock(6, '7711', '7712:udp');
      const v6open = await waitProbe(pair, pair.serverV6, 2222, true, 5000);
      assert.equal(v6open, true, `rotated sequence did not open over IPv6; daemon said:\n${d.stdout().split('\n').slice(-12).join('\n')}\n${d.stderr().split('\n').filter((l) => !l.includes('"level":30')).slice(-6).join('\n')}`);
      await sleep(300);
      assert.equal(d.child.exitCode, null, 'daemon died after the last one-time sequence (knockd 0.8 aborts here)');
      assert.match(d.stdout() + readFileSync(w.log, 'utf8'), /no more sequences left in the one time sequences file for door once/);
      const opens = (await waitFor(() => auditRecords(w), (r) => r.filter((x) => x.event === 'door.open').length >= 2, 3000)).filter((x) => x.event === 'door.open');
      assert.equal(opens.length, 2);
    } finally {
      await stopDaemon(d);
    }
  } finally {
    await pair.cleanup();
  }
});

test('-d detaches, writes PidFile, keeps working, and stops on SIGTERM by that PID', { skip }, async () => {
  const pair = await createPair('dmn');
  const w = workdir('dmn');
  const pidFile = join(w.dir, 'knockd.pid');
  try {
    await guardService(pair, 2222, 4);
    writeConfig(w, pair.serverIf, guardedDoor('d', 2222, '\tsequence = 7801,7802', 2), `\tPidFile = ${pidFile}`);
    const r = await pair.run(pair.server, process.execPath, [bin('knockd'), '-d', '-c', w.conf], { timeoutMs: 20000 });
    assert.equal(r.code, 0, `knockd -d: ${r.stderr}`);
    assert.ok(existsSync(pidFile), 'no pid file');
    const pid = Number(readFileSync(pidFile, 'utf8').trim());
    assert.ok(Number.isInteger(pid) && pid > 1);
    try {
      process.kill(pid, 0); // the detached daemon is alive
      await pair.run(pair.client, process.execPath, [bin('knock'), pair.serverV4, '7801', '7802']);
      assert.equal(await waitProbe(pair, pair.serverV4, 2222, true, 5000), true, 'detached daemon did not open the door');
    } finally {
      process.kill(pid, 'SIGTERM');
      const gone = await waitFor(() => { try { process.kill(pid, 0); return false; } catch { return true; } }, (g) => g, 10000);
      if (!gone) process.kill(pid, 'SIGKILL');
      assert.ok(gone, 'daemon did not exit on SIGTERM');
    }
    assert.equal(existsSync(pidFile), false, 'pid file not removed on exit');
    void runCmd;
  } finally {
    await pair.cleanup();
  }
});
