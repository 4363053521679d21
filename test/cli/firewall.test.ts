import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';
import { firewallMain } from '../../src/cli/firewall.js';
import { renderNftRuleset } from '../../src/core/firewall/nft-ruleset.js';
import { loadConfig } from '../../src/io/read-config.js';
import { bin } from '../helpers/paths.js';

interface Run { code: number; out: string; err: string }
async function run(argv: string[], configPath: string): Promise<Run> {
  let out = '', err = '';
  const code = await firewallMain(argv, { configPath, out: (x) => { out += x; }, err: (x) => { err += x; } });
  return { code, out, err };
}

test('knockd firewall --print nft: the ruleset for -c FILE; usage and config errors exit 64 / 78', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'fw-'));
  try {
    const conf = join(dir, 'k.conf');
    writeFileSync(conf, '[ssh]\nspa = yes\nports = 22\nnft_set = inet knockd ssh4\n');
    const plain = join(dir, 'plain.conf');
    writeFileSync(plain, '[d]\nsequence = 1\n');
    const ok = await run(['--print', 'nft', '-c', conf], '/nonexistent/knockd.conf');
    assert.deepEqual(ok, { code: 0, out: renderNftRuleset(loadConfig(conf)), err: '' });
    assert.equal((await run(['--print', 'nft'], conf)).out, ok.out, 'the root -c FILE is the default');
    const rows: Array<[string[], string, number, RegExp]> = [
      [['--print', 'iptables'], conf, 64, /^knockd firewall: --print "iptables": only "nft" is supported \[ERR_USAGE\]\n$/],
      [[], conf, 64, /required option '--print <kind>' not specified/],
      [['--print', 'nft', 'extra'], conf, 64, /too many arguments/],
      [['--print', 'nft'], plain, 78, /no door has nft_set or nft_set_6.*\[ERR_CONFIG_DOOR\]/],
      [['--print', 'nft'], join(dir, 'missing.conf'), 78, /\[ERR_CONFIG_READ\]/],
    ];
    for (const [argv, c, code, re] of rows) {
      const r = await run(argv, c);
      assert.equal(r.code, code, argv.join(' '));
      assert.match(r.err, re);
      assert.equal(r.out, '');
    }
    // through bin/knockd: both places for -c work
    for (const argv of [['firewall', '--print', 'nft', '-c', conf], ['-c', conf, 'firewall', '--print', 'nft']]) {
      const p = spawnSync(process.execPath, [bin('knockd'), ...argv], { encoding: 'utf8', timeout: 20_000 });
      assert.equal(p.status, 0, p.stderr);
      assert.equal(p.stdout, ok.out);
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
