import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseConfig, type ParseEnv } from '../../../src/core/config/parse.js';
import { formatConfig } from '../../../src/core/config/format.js';
import { parseNftSetRef } from '../../../src/core/config/nft.js';
import { isAppError } from '../../../src/core/errors.js';
import type { Config } from '../../../src/core/config/types.js';

const env: ParseEnv = { resolvePath: (p) => (p.startsWith('/') ? p : `/cwd/${p}`), readOts: () => '1\n' };
const parse = (text: string): Config => parseConfig(text, 'k.conf', env);
const DOOR = '[ssh]\nspa = yes\nports = 22\n';

test('nft keys: sets per family, element kind, defaults; formatConfig prints them and reads back the same', () => {
  const c = parse(`${DOOR}nft_set = inet knockd ssh4\nNFT_SET_6 =  ip6\tknockd   ssh6 \nnft_element = ADDR-PORT\n[web]\nsequence = 1\nports = 80\nnft_set = ip knockd web4\n[plain]\nsequence = 2\n`);
  assert.deepEqual(c.doors.map((d) => d.nft), [
    { set4: { family: 'inet', table: 'knockd', set: 'ssh4' }, set6: { family: 'ip6', table: 'knockd', set: 'ssh6' }, element: 'addr-port' },
    { set4: { family: 'ip', table: 'knockd', set: 'web4' }, element: 'addr' },
    undefined,
  ]);
  assert.equal('nft' in (c.doors[2] as object), false, 'doors without nft keys have no nft field');
  const text = formatConfig(c);
  assert.match(text, /\tnft_set = inet knockd ssh4\n\tnft_set_6 = ip6 knockd ssh6\n\tnft_element = addr-port\n/);
  assert.match(text, /\tnft_set = ip knockd web4\n\t# nft_set_6: not set \(IPv6 knocks add no element\)\n\tnft_element = addr\n/);
  assert.doesNotMatch(text.split('[plain]')[1] ?? '', /nft/);
  assert.deepEqual(parseConfig(text, 'k.conf', env).doors.map((d) => d.nft), c.doors.map((d) => d.nft));
});

const BAD: ReadonlyArray<readonly [string, string, string, RegExp]> = [
  ['two words', `${DOOR}nft_set = inet knockd\n`, 'ERR_CONFIG_VALUE', /^k\.conf:4: \[ssh\] nft_set = "inet knockd": expected 3 words \(family, table, set\), got 2 \(write FAMILY TABLE SET, e\.g\. "inet knockd allowed4"\)$/],
  ['IPv6 family for the IPv4 set', `${DOOR}nft_set = ip6 knockd s\n`, 'ERR_CONFIG_VALUE', /^k\.conf:4: \[ssh\] nft_set = "ip6 knockd s": family "ip6" cannot hold IPv4 addresses \(use inet or ip; ip6 sets belong in nft_set_6\)$/],
  ['IPv4 family for the IPv6 set', `${DOOR}nft_set_6 = ip knockd s\n`, 'ERR_CONFIG_VALUE', /family "ip" cannot hold IPv6 addresses \(use inet or ip6; ip sets belong in nft_set\)$/],
  ['unknown family', `${DOOR}nft_set = bridge knockd s\n`, 'ERR_CONFIG_VALUE', /family "bridge" cannot hold IPv4 addresses \(use inet or ip\)$/],
  ['name with a quote', `${DOOR}nft_set = inet knockd a"b\n`, 'ERR_CONFIG_VALUE', /set name "a\\"b" is not 1-64 characters of A-Z a-z 0-9 _/],
  ['name with a brace', `${DOOR}nft_set = inet k{ s\n`, 'ERR_CONFIG_VALUE', /table name "k\{" is not/],
  ['name starting with a digit', `${DOOR}nft_set = inet knockd 4s\n`, 'ERR_CONFIG_VALUE', /set name "4s" is not/],
  ['name of 65 characters', `${DOOR}nft_set = inet knockd ${'a'.repeat(65)}\n`, 'ERR_CONFIG_VALUE', /set name "a{65}" is not/],
  ['element kind', `${DOOR}nft_set = inet knockd s\nnft_element = port\n`, 'ERR_CONFIG_VALUE', /^k\.conf:5: \[ssh\] nft_element = "port": expected addr or addr-port/],
  ['element without a set', `${DOOR}nft_element = addr\n`, 'ERR_CONFIG_DOOR', /^k\.conf:1: \[ssh\]: nft_element is set but neither nft_set nor nft_set_6/],
  ['no ports', '[ssh]\nspa = yes\nnft_set = inet knockd s\n', 'ERR_CONFIG_DOOR', /^k\.conf:1: \[ssh\]: a door with an nft set needs ports = PORT\[:tcp\|udp\],\.\.\./],
  ['cmd_timeout 0', `${DOOR}cmd_timeout = 0\nnft_set = inet knockd s\n`, 'ERR_CONFIG_DOOR', /cmd_timeout = 0 with an nft set \(nft reads "timeout 0s" as "never expires"; use 1 or more seconds\)$/],
  ['a set shared by two doors', `${DOOR}nft_set = inet knockd s\n[web]\nsequence = 1\nports = 80\nnft_set = inet knockd s\n`, 'ERR_CONFIG_DOOR', /^k\.conf:5: \[web\]: set inet knockd s is already used by door 'ssh' \(line 1\)/],
  ['one set for both families', `${DOOR}nft_set = inet knockd s\nnft_set_6 = inet knockd s\n`, 'ERR_CONFIG_DOOR', /set inet knockd s is already used by nft_set and nft_set_6 of this door/],
];

test('nft keys: strict validation, FILE:LINE errors', () => {
  for (const [name, text, code, re] of BAD) {
    assert.throws(() => parse(text), (e) => isAppError(e) && e.code === code && re.test(e.message), name);
  }
});

test('the same set name in another family or table is another set', () => {
  const c = parse(`${DOOR}nft_set = inet knockd s\n[b]\nsequence = 1\nports = 80\nnft_set = ip knockd s\n[c]\nsequence = 2\nports = 81\nnft_set = inet other s\n`);
  assert.equal(c.doors.filter((d) => d.nft).length, 3);
});

test('parseNftSetRef never throws on odd text', () => {
  for (const v of ['', ' ', 'inet', 'inet  knockd\tset', '\u0000 a b', 'inet a b c', 'x'.repeat(5000)]) {
    const r = parseNftSetRef(v, 4);
    assert.equal(typeof r.ok, 'boolean');
  }
  assert.deepEqual(parseNftSetRef('inet  knockd\tset', 4), { ok: true, ref: { family: 'inet', table: 'knockd', set: 'set' } });
});
