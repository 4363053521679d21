/**
 * `knockd firewall --print nft` with the real nft inside a namespace pair: the printed ruleset
 * loads with `nft -f`, guards the door ports (closed for everyone not in the set, other ports
 * untouched), drops the SPA port without an ICMP answer, and loading it again keeps the set
 * elements (open doors) and does not duplicate rules.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createPair } from '../helpers/netns.js';
import { probe, startListener } from '../helpers/service.js';
import { loadRuleset, nftSkipReason, udpAnswer } from '../helpers/nft.js';

const skip = nftSkipReason();

test('the printed ruleset loads with nft -f; guarded ports closed, others open, SPA port silent; reload keeps elements', { skip }, async () => {
  const pair = await createPair('nftrs');
  const dir = mkdtempSync(join(tmpdir(), 'nftrs-'));
  try {
    const conf = join(dir, 'k.conf');
    writeFileSync(conf, '[options]\nSPAPort = 62201\n[ssh]\nspa = yes\nports = 2201\nnft_set = inet knockd ssh4\nnft_set_6 = inet knockd ssh6\n'
      + '[web]\nsequence = 7000\nports = 2202\nnft_set = inet knockd web4\nnft_set_6 = inet knockd web6\nnft_element = addr-port\n');
    for (const f of [4, 6] as const) for (const port of [2201, 2202, 2203]) await startListener(pair, port, f);
    assert.equal(await probe(pair, pair.serverV4, 2201), true, 'control: the listener answers before the ruleset is loaded');

    const text = await loadRuleset(pair, conf, dir);
    assert.match(text, /^table inet knockd \{$/m);
    for (const host of [pair.serverV4, pair.serverV6]) {
      assert.equal(await probe(pair, host, 2201), false, `${host}:2201 is guarded`);
      assert.equal(await probe(pair, host, 2202), false, `${host}:2202 is guarded`);
      assert.equal(await probe(pair, host, 2203), true, `${host}:2203 is not a door port`);
      assert.equal(await udpAnswer(pair, host, 62201), 'quiet', `${host}: SPA port dropped without ICMP`);
      assert.equal(await udpAnswer(pair, host, 62299), 'ECONNREFUSED', `${host}: control, a closed UDP port answers`);
    }

    const add = await pair.run(pair.server, 'nft', ['add element inet knockd ssh4 { ' + pair.clientV4 + ' timeout 60s }']);
    assert.equal(add.code, 0, add.stderr);
    const add6 = await pair.run(pair.server, 'nft', ['add element inet knockd web6 { ' + pair.clientV6 + ' . tcp . 2202 timeout 60s }']);
    assert.equal(add6.code, 0, add6.stderr);
    assert.equal(await probe(pair, pair.serverV4, 2201), true, 'the set element admits the client');
    assert.equal(await probe(pair, pair.serverV6, 2202), true, 'the addr-port element admits the client to its port');
    assert.equal(await probe(pair, pair.serverV6, 2201), false, '... and not to another door\'s port');

    await loadRuleset(pair, conf, dir);
    const set = await pair.run(pair.server, 'nft', ['list', 'set', 'inet', 'knockd', 'ssh4']);
    assert.match(set.stdout, new RegExp(`elements = \\{ ${pair.clientV4.replace(/\./g, '\\.')} timeout 1m expires`), 'the element survived the reload');
    assert.equal(await probe(pair, pair.serverV4, 2201), true);
    const chain = await pair.run(pair.server, 'nft', ['list', 'chain', 'inet', 'knockd', 'knockd_input']);
    assert.equal(chain.stdout.match(/ drop$/gm)?.length, 2, `one copy of the rules after reloading:\n${chain.stdout}`);
  } finally {
    await pair.cleanup();
    rmSync(dir, { recursive: true, force: true });
  }
});
