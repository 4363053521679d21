/**
 * One key holder cannot exhaust shared capacity (issue 10.5), end to end: the holder of an hmac
 * key sends a bounded burst of valid, distinct knocks as fast as it can (f6ae24a granted ~1000/s,
 * each with a journal write and an audit line); the daemon grants at most the key's budget, the
 * replay log holds no more than that, and another key still opens its door at once.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { e2eSkipReason } from '../helpers/root.js';
import { createPair, runCmd } from '../helpers/netns.js';
import { guardService, waitProbe } from '../helpers/service.js';
import { auditRecords, guardedDoor, sleep, startDaemon, stopDaemon, waitFor, workdir, writeConfig } from '../helpers/daemon.js';
import { bin, repoRoot } from '../helpers/paths.js';

const skip = e2eSkipReason();
const PORT = 2222;
const COUNT = 2000, LIMIT_MS = 8000;

/** Valid knocks with an hmac key file, as fast as possible, bounded by count and time. */
const SENDER = `
const [root, keyFile, server, allow, count, limitMs] = process.argv.slice(1);
(async () => {
  const { parseClientKey } = await import(root + '/dist/src/core/keys/client.js');
  const { signerFor } = await import(root + '/dist/src/core/spa/sign.js');
  const { encodeRequest } = await import(root + '/dist/src/core/spa/wire.js');
  const { parseIp } = await import(root + '/dist/src/core/ip.js');
  const key = parseClientKey(require('node:fs').readFileSync(keyFile, 'utf8'), keyFile);
  const signer = signerFor(key);
  const s = require('node:dgram').createSocket('udp4');
  const t0 = Date.now();
  let sent = 0;
  while (sent < Number(count) && Date.now() - t0 < Number(limitMs)) {
    const p = encodeRequest({ timestampMs: Date.now(), nonce: require('node:crypto').randomBytes(16), ttl: 0,
      allowIp: parseIp(allow), serverIp: parseIp(server), door: 'ssh', version: 2 }, signer);
    await new Promise((r) => s.send(p, 62201, server, r));
    sent++;
    if (sent % 50 === 0) await new Promise((r) => setImmediate(r));
  }
  console.log('sent ' + sent + ' in ' + (Date.now() - t0) + ' ms');
  s.close();
})();
`;

test('an hmac key holder flooding valid knocks gets its budget, no more; another key still gets in', { skip }, async () => {
  const pair = await createPair('sbud');
  const w = workdir('spabud');
  try {
    await guardService(pair, PORT, 4);
    writeConfig(w, pair.serverIf, guardedDoor('ssh', PORT, '\tspa = yes', 30));
    const erinKey = join(w.dir, 'erin.knock-key');
    const a1 = await runCmd(process.execPath, [bin('knockd'), '-c', w.conf, 'keys', 'add', 'erin', '--hmac', '--out', erinKey, '--doors', 'ssh']);
    assert.equal(a1.code, 0, a1.stderr);
    const home = join(w.dir, 'home');
    mkdirSync(home, { mode: 0o700 });
    const aliceKey = join(home, 'key');
    assert.equal((await runCmd(process.execPath, [bin('knock'), '--keygen', '--key', aliceKey])).code, 0);
    const a2 = await runCmd(process.execPath, [bin('knockd'), '-c', w.conf, 'keys', 'add', 'alice', readFileSync(`${aliceKey}.enrol`, 'utf8').trim()]);
    assert.equal(a2.code, 0, a2.stderr);
    const d = await startDaemon(pair, w);
    try {
      const t0 = Date.now();
      const r = await pair.run(pair.client, process.execPath, ['-e', SENDER, repoRoot, erinKey, pair.serverV4, pair.clientV4, String(COUNT), String(LIMIT_MS)], { timeoutMs: LIMIT_MS + 15_000 });
      assert.equal(r.code, 0, r.stderr);
      const m = /sent (\d+) in (\d+) ms/.exec(r.stdout);
      assert.ok(m, r.stdout);
      await sleep(1000);
      const elapsedS = (Date.now() - t0) / 1000;
      const grants = auditRecords(w).filter((x) => (x.event === 'door.open' || x.event === 'door.extend') && (x.principal as { key?: string }).key === 'erin').length;
      const bound = 10 + 5 * elapsedS + 5;
      assert.ok(grants >= 1 && grants <= bound, `erin got ${grants} grants from ${m[1]} valid knocks in ${m[2]} ms (budget ${bound.toFixed(0)})`);
      const records = readFileSync(join(w.state, 'replay.log'), 'utf8').trim().split('\n').length;
      assert.ok(records <= grants, `${records} replay records for ${grants} grants`);
      const k = await pair.run(pair.client, process.execPath, [bin('knock'), '--spa', '--key', aliceKey, pair.serverV4]);
      assert.equal(k.code, 0, k.stderr);
      const aliceRecs = () => auditRecords(w).filter((x) => (x.principal as { key?: string } | undefined)?.key === 'alice' || x.key === 'alice');
      await waitFor(aliceRecs, (l) => l.length > 0, 5000);
      const opens = aliceRecs().filter((x) => x.event === 'door.open' || x.event === 'door.extend');
      assert.equal(opens.length, 1, `alice is not refused because of erin: ${JSON.stringify(aliceRecs())}\n${d.stderr().slice(-2000)}`);
      assert.equal(await waitProbe(pair, pair.serverV4, PORT, true, 3000), true);
      process.stdout.write(`# erin: ${m[1]} valid knocks in ${m[2]} ms → ${grants} grants; alice granted\n`);
    } finally {
      await stopDaemon(d);
    }
  } finally {
    await pair.cleanup();
  }
});
