/**
 * Functional flood check (figures live in the benchmark, not here): while a bounded flood of junk
 * datagrams and of forgeries naming a real enrolled key id hits the SPA port, a valid SPA knock
 * still opens the door. The flood is limited in count and time and stops by itself; it goes only
 * to the server namespace's address over the test's own veth.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { e2eSkipReason } from '../helpers/root.js';
import { createPair, runCmd } from '../helpers/netns.js';
import { guardService, waitProbe } from '../helpers/service.js';
import { workdir, writeConfig, startDaemon, stopDaemon, auditRecords, guardedDoor, sleep } from '../helpers/daemon.js';
import { bin } from '../helpers/paths.js';

const skip = e2eSkipReason();
const PORT = 2222;
const FLOOD_COUNT = 40000;     // datagrams in total
const FLOOD_LIMIT_MS = 8000;   // and never longer than this

// Sends FLOOD_COUNT datagrams alternating junk and forgeries (real key id, fresh timestamp,
// random rest), in bursts, and exits after the count or the time limit, whichever comes first.
const FLOODER = `
const dgram = require('node:dgram'); const crypto = require('node:crypto');
const [host, port, keyIdHex, count, limit] = [process.argv[1], +process.argv[2], process.argv[3], +process.argv[4], +process.argv[5]];
const s = dgram.createSocket('udp4'); const keyId = Buffer.from(keyIdHex, 'hex');
const end = Date.now() + limit; let sent = 0;
function forgery() { const b = crypto.randomBytes(154); b.write('KN', 0, 'latin1'); b[2] = 1; b[3] = 1; keyId.copy(b, 4);
  b.writeBigUInt64BE(BigInt(Date.now()), 12); b[40] = 0; b[41] = 0; return b; }
function burst() {
  if (sent >= count || Date.now() > end) { s.close(); console.log('sent ' + sent); return; }
  for (let i = 0; i < 50 && sent < count; i++, sent++) s.send(sent % 2 ? forgery() : crypto.randomBytes(1 + (sent % 300)), port, host);
  setImmediate(burst);
}
burst();
`;

test('a valid SPA knock opens while a bounded junk + forgery flood hits the SPA port', { skip }, async () => {
  const pair = await createPair('fl');
  const w = workdir('flood');
  try {
    await guardService(pair, PORT, 4);
    writeConfig(w, pair.serverIf, guardedDoor('ssh', PORT, '\tspa = yes', 5));
    const home = join(w.dir, 'home');
    mkdirSync(home, { mode: 0o700 });
    const key = join(home, 'key');
    assert.equal((await runCmd(process.execPath, [bin('knock'), '--keygen', '--key', key])).code, 0);
    const keyId = /^id:\s*([0-9a-f]{16})$/m.exec(readFileSync(key, 'utf8'))?.[1];
    assert.ok(keyId, 'key file has no id line');
    const add = await runCmd(process.execPath, [bin('knockd'), '-c', w.conf, 'keys', 'add', 'alice', readFileSync(`${key}.enrol`, 'utf8').trim()]);
    assert.equal(add.code, 0, add.stderr);
    const d = await startDaemon(pair, w);
    try {
      const flood = pair.spawn(pair.client, process.execPath, ['-e', FLOODER, pair.serverV4, '62201', keyId, String(FLOOD_COUNT), String(FLOOD_LIMIT_MS)]);
      let floodOut = '';
      flood.stdout?.on('data', (b: Buffer) => { floodOut += b.toString(); });
      const floodDone = new Promise((r) => flood.once('exit', r));
      await sleep(500); // let the flood get going
      // A single datagram can be lost on any network under flood (here: the veth backlog), so
      // like a user the test knocks again, up to 3 times; every try is a fresh signed datagram.
      let opened = false, tries = 0;
      while (!opened && tries < 3 && flood.exitCode === null) {
        tries++;
        const k = await pair.run(pair.client, process.execPath, [bin('knock'), '--spa', '--key', key, pair.serverV4]);
        assert.equal(k.code, 0, k.stderr);
        opened = await waitProbe(pair, pair.serverV4, PORT, true, 2000);
      }
      const floodStillRunning = flood.exitCode === null;
      await floodDone;
      assert.match(floodOut, /sent \d+/, 'flooder did not finish');
      assert.equal(opened, true, `no valid knock opened under flood in ${tries} tries (${floodOut.trim()})`);
      assert.ok(floodStillRunning, 'the door must open while the flood is still running');
      const recs = auditRecords(w);
      assert.equal(recs.filter((r) => r.event === 'door.open').length, 1, 'exactly the one valid knock may open');
      assert.ok(d.child.exitCode === null, 'daemon died under the flood');
    } finally {
      await stopDaemon(d);
    }
  } finally {
    await pair.cleanup();
  }
});
