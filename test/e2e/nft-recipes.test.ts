/**
 * The recipes in docs/recipes/ (ufw.md, firewalld.md), as far as they run without ufw or
 * firewalld installed, inside a namespace pair:
 *   - variant A: the printed nft ruleset in front of a ruleset that drops by default and accepts
 *     the door port (ufw's shape with iptables-nft; firewalld's shape, an inet table at priority
 *     filter + 10): set members get in, everyone else is dropped;
 *   - the idempotent start/stop commands of [ssh-ufw] and [ssh-iptables], read from the docs
 *     with the real config parser and run through /bin/sh -c with %IP% expanded.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createPair, type NetnsPair } from '../helpers/netns.js';
import { probe, startListener } from '../helpers/service.js';
import { loadRuleset, nftSkipReason } from '../helpers/nft.js';
import { repoRoot } from '../helpers/paths.js';
import { parseConfig } from '../../src/core/config/parse.js';
import { expandCommand, selectCommands } from '../../src/core/actions/command.js';
import { parseIp, type Ip } from '../../src/core/ip.js';
import type { Door } from '../../src/core/config/types.js';

const skip = nftSkipReason();
const PORT = 2201;

async function must(pair: NetnsPair, cmd: string, args: string[]): Promise<string> {
  const r = await pair.run(pair.server, cmd, args);
  if (r.code !== 0) throw new Error(`${cmd} ${args.join(' ')}: ${r.stderr.trim()}`);
  return r.stdout;
}

/** The ```ini block of a recipe that holds `[section]`, parsed by the real config parser. */
function recipeDoor(file: string, section: string): Door {
  const md = readFileSync(join(repoRoot, 'docs', 'recipes', file), 'utf8');
  const block = md.split('```ini\n').slice(1).map((b) => b.split('```')[0] ?? '').find((b) => b.includes(`[${section}]`));
  assert.ok(block, `${file} has no [${section}] block`);
  const door = parseConfig(block, file, { resolvePath: (p) => p, readOts: () => '' }).doors[0];
  assert.ok(door);
  return door;
}

test('recipe A: the printed nft ruleset in front of a default-drop ruleset that accepts the port', { skip }, async () => {
  const pair = await createPair('nftrcpa');
  const dir = mkdtempSync(join(tmpdir(), 'nftrcpa-'));
  try {
    for (const f of [4, 6] as const) await startListener(pair, PORT, f);
    // ufw's shape (iptables-nft, IPv4) ...
    for (const a of [['-P', 'INPUT', 'DROP'], ['-A', 'INPUT', '-i', 'lo', '-j', 'ACCEPT'],
      ['-A', 'INPUT', '-m', 'conntrack', '--ctstate', 'ESTABLISHED,RELATED', '-j', 'ACCEPT'], ['-A', 'INPUT', '-p', 'tcp', '--dport', String(PORT), '-j', 'ACCEPT']]) {
      await must(pair, 'iptables', ['-w', ...a]);
    }
    // ... and firewalld's (an inet table at priority filter + 10, IPv6 here)
    writeFileSync(join(dir, 'fw.nft'), `table ip6 fwlike {\n\tchain filter_INPUT {\n\t\ttype filter hook input priority filter + 10; policy drop;\n`
      + `\t\tct state established,related accept\n\t\ticmpv6 type { nd-neighbor-solicit, nd-neighbor-advert } accept\n\t\ttcp dport ${PORT} accept\n\t}\n}\n`);
    await must(pair, 'nft', ['-f', join(dir, 'fw.nft')]);
    assert.equal(await probe(pair, pair.serverV4, PORT), true, 'control: the port is accepted by the default-drop ruleset (v4)');
    assert.equal(await probe(pair, pair.serverV6, PORT), true, 'control: the port is accepted by the default-drop ruleset (v6)');

    writeFileSync(join(dir, 'k.conf'), recipeDoorText());
    await loadRuleset(pair, join(dir, 'k.conf'), dir);
    assert.equal(await probe(pair, pair.serverV4, PORT), false, 'knockd\'s chain drops non-members (v4)');
    assert.equal(await probe(pair, pair.serverV6, PORT), false, 'knockd\'s chain drops non-members (v6)');
    await must(pair, 'nft', [`add element inet knockd ssh4 { ${pair.clientV4} timeout 60s }`]);
    await must(pair, 'nft', [`add element inet knockd ssh6 { ${pair.clientV6} timeout 60s }`]);
    assert.equal(await probe(pair, pair.serverV4, PORT), true, 'a member passes knockd\'s chain and the other ruleset accepts it (v4)');
    assert.equal(await probe(pair, pair.serverV6, PORT), true, 'a member passes knockd\'s chain and the other ruleset accepts it (v6)');
  } finally {
    await pair.cleanup();
    rmSync(dir, { recursive: true, force: true });
  }
});

/** The [ssh] door of ufw.md variant A, with the test's port. */
function recipeDoorText(): string {
  const d = recipeDoor('ufw.md', 'ssh');
  assert.deepEqual(d.nft, { set4: { family: 'inet', table: 'knockd', set: 'ssh4' }, set6: { family: 'inet', table: 'knockd', set: 'ssh6' }, element: 'addr' });
  return `[ssh]\nspa = yes\nports = ${PORT}\ncmd_timeout = ${d.cmdTimeout}\nnft_set = inet knockd ssh4\nnft_set_6 = inet knockd ssh6\n`;
}

for (const [file, section, chain] of [['ufw.md', 'ssh-ufw', 'ufw-before-input'], ['firewalld.md', 'ssh-iptables', 'INPUT']] as const) {
  test(`recipe ${file} [${section}]: start twice = one rule, stop twice = no error and no rule (IPv4${chain === 'INPUT' ? '' : ' and IPv6'})`, { skip }, async () => {
    const pair = await createPair('nftrcpb');
    try {
      const door = recipeDoor(file, section);
      const families = chain === 'INPUT' ? [4] as const : [4, 6] as const;
      for (const f of families) {
        const tool = f === 4 ? 'iptables' : 'ip6tables';
        const ch = f === 4 ? chain : chain.replace('ufw-', 'ufw6-');
        await startListener(pair, 22, f);
        if (ch !== 'INPUT') {
          await must(pair, tool, ['-w', '-N', ch]);
          await must(pair, tool, ['-w', '-A', 'INPUT', '-j', ch]);
        }
        await must(pair, tool, ['-w', '-A', 'INPUT', '-p', 'tcp', '--dport', '22', '-j', 'DROP']);
        const client = parseIp(f === 4 ? pair.clientV4 : pair.clientV6) as Ip;
        const cmds = selectCommands(door, f);
        const start = expandCommand(cmds.start ?? '', client) as string;
        const stop = expandCommand(cmds.stop ?? '', client) as string;
        const host = f === 4 ? pair.serverV4 : pair.serverV6;
        const rules = async (): Promise<number> => (await must(pair, tool, ['-w', '-S', ch])).split('\n').filter((l) => l.includes(client.text)).length;
        assert.equal(await probe(pair, host, 22), false, `IPv${f}: closed before the start command`);
        for (let i = 0; i < 2; i++) assert.equal((await pair.run(pair.server, '/bin/sh', ['-c', start])).code, 0, `IPv${f}: start #${i + 1}`);
        assert.equal(await rules(), 1, `IPv${f}: one rule after two starts`);
        assert.equal(await probe(pair, host, 22), true, `IPv${f}: open`);
        for (let i = 0; i < 2; i++) assert.equal((await pair.run(pair.server, '/bin/sh', ['-c', stop])).code, 0, `IPv${f}: stop #${i + 1}`);
        assert.equal(await rules(), 0, `IPv${f}: no rule after two stops`);
        assert.equal(await probe(pair, host, 22), false, `IPv${f}: closed`);
      }
    } finally {
      await pair.cleanup();
    }
  });
}
