/**
 * Functional flood check (figures live in the benchmark, not here): while a bounded flood of junk
 * datagrams and of forgeries naming a real enrolled key id hits the SPA port, a valid SPA knock
 * still opens the door. The flood runs until the knock has been judged (so the test holds on fast
 * and slow machines alike), with a hard cap on time and count; it goes only to the server
 * namespace's address over the test's own veth.
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
/** The flood runs until the knock has been judged; these only bound it if something hangs. */
const FLOOD_LIMIT_MS = 30_000;
const FLOOD_MAX_DATAGRAMS = 5_000_000;

// Sends junk and forgeries (real key id, fresh timestamp, random rest) alternately in bursts
// until SIGTERM, the time limit or the count cap, whichever comes first; says when it has
// really started ("flowing") and how many it sent ("sent N").
const FLOODER = `
const dgram = require('node:dgram'); const crypto = require('node:crypto');
const [host, port, keyIdHex, count, limit] = [process.argv[1], +process.argv[2], process.argv[3], +process.argv[4], +process.argv[5]];
const s = dgram.createSocket('udp4'); const keyId = Buffer.from(keyIdHex, 'hex');
const end = Date.now() + limit; let sent = 0; let stop = false;
process.on('SIGTERM', () => { stop = true; });
function forgery() { const b = crypto.randomBytes(154); b.write('KN', 0, 'latin1'); b[2] = 1; b[3] = 1; keyId.copy(b, 4);
  b.writeBigUInt64BE(BigInt(Date.now()), 12); b[40] = 0; b[41] = 0; return b; }
function burst() {
  if (stop || sent >= count || Date.now() > end) { s.close(); console.log('sent ' + sent); return; }
  for (let i = 0; i < 50 && sent < count; i++, sent++) s.send(sent % 2 ? forgery() : crypto.randomBytes(1 + (sent % 300)), port, host);
  if (sent === 2000) console.log('flowing');
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
      const flood = pair.spawn(pair.client, process.execPath, ['-e', FLOODER, pair.serverV4, '62201', keyId, String(FLOOD_MAX_DATAGRAMS), String(FLOOD_LIMIT_MS)]);
      let floodOut = '';
      flood.stdout?.on('data', (b: Buffer) => { floodOut += b.toString(); });
      const floodDone = new Promise((r) => flood.once('exit', r));
      try {
        // wait for the flood itself (not for a guessed time): it says when it is flowing
        const until = Date.now() + 10_000;
        while (!/flowing|sent/.test(floodOut) && Date.now() < until) await sleep(20);
        assert.match(floodOut, /flowing/, 'the flood did not start');
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
        flood.kill('SIGTERM');
        await floodDone;
        assert.match(floodOut, /sent \d+/, 'flooder did not report');
        assert.equal(opened, true, `no valid knock opened under flood in ${tries} tries (${floodOut.trim()})`);
        assert.ok(floodStillRunning, 'the door must open while the flood is still running');
      } finally {
        if (flood.exitCode === null) flood.kill('SIGKILL');
      }
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
