import { test } from 'node:test';
import assert from 'node:assert/strict';
import { selectCommands, expandCommand, utf8Length, MAX_COMMAND_BYTES } from '../../../src/core/actions/command.js';
import { parseIp } from '../../../src/core/ip.js';
import type { Door } from '../../../src/core/config/types.js';

function door(c: Partial<Pick<Door, 'startCommand' | 'startCommand6' | 'stopCommand' | 'stopCommand6'>>): Door {
  return { name: 'd', line: 1, sequence: [], seqTimeout: 25, tcpFlags: {}, cmdTimeout: 10, spa: false, ...c };
}
const ip = (s: string) => { const r = parseIp(s); assert.ok(r, s); return r; };

// [#, commands, family, expected]
const U = undefined;
const table: Array<[number, Parameters<typeof door>[0], 4 | 6, { start?: string; stop?: string }]> = [
  [1, { startCommand: 'S', stopCommand: 'T' }, 4, { start: 'S', stop: 'T' }],
  [2, { startCommand: 'S', stopCommand: 'T' }, 6, { start: 'S', stop: 'T' }],          // no _6 → fallback
  [3, { startCommand: 'S', startCommand6: 'S6', stopCommand: 'T', stopCommand6: 'T6' }, 6, { start: 'S6', stop: 'T6' }],
  [4, { startCommand: 'S', startCommand6: 'S6', stopCommand: 'T', stopCommand6: 'T6' }, 4, { start: 'S', stop: 'T' }],
  [5, { startCommand: 'S', startCommand6: '', stopCommand: 'T' }, 6, {}],              // set-but-empty _6 start wins → nothing
  [6, { startCommand: 'S', startCommand6: '', stopCommand: 'T' }, 4, { start: 'S', stop: 'T' }],
  [7, { startCommand: 'S', stopCommand: 'T', stopCommand6: '' }, 6, { start: 'S', stop: '' }], // stop_6 set empty: independent
  [8, { startCommand: 'S', startCommand6: 'S6' }, 6, { start: 'S6' }],                 // no stop at all
  [9, { startCommand6: 'S6', stopCommand6: 'T6' }, 4, {}],                             // v4 never looks at _6
  [10, { startCommand6: 'S6', stopCommand: 'T' }, 6, { start: 'S6', stop: 'T' }],
  [11, { startCommand: '', stopCommand: 'T' }, 4, {}],                                 // empty start: stop never runs
  [12, {}, 4, {}],
  [13, {}, 6, {}],
  [14, { startCommand: 'S', stopCommand: '' }, 4, { start: 'S', stop: '' }],
  [15, { startCommand: U, startCommand6: 'S6', stopCommand: 'T', stopCommand6: U }, 6, { start: 'S6', stop: 'T' }],
];
for (const [n, cmds, fam, want] of table) {
  test(`selectCommands #${n}`, () => {
    assert.deepEqual(selectCommands(door(cmds), fam), want);
  });
}

test('expandCommand replaces every literal %IP% and nothing else', () => {
  const rows: Array<[string, string, string]> = [
    ['iptables -I INPUT -s %IP% -j ACCEPT', '203.0.113.7', 'iptables -I INPUT -s 203.0.113.7 -j ACCEPT'],
    ['%IP%%IP% %ip% %Ip% %IP', '10.0.0.1', '10.0.0.110.0.0.1 %ip% %Ip% %IP'],
    ['echo "START %IP% [%IP%] %ip%"', '127.0.0.1', 'echo "START 127.0.0.1 [127.0.0.1] %ip%"'],
    ['no token', '10.0.0.1', 'no token'],
    ['ip6tables -s %IP%', '2001:DB8:0:0:0:0:0:5', 'ip6tables -s 2001:db8::5'], // canonical text, not input text
    ['x %IP% y', '::FFFF:192.0.2.1', 'x ::ffff:192.0.2.1 y'],
    ['%%IP%%', '::1', '%::1%'],
  ];
  for (const [tpl, addr, want] of rows) assert.equal(expandCommand(tpl, ip(addr)), want, tpl);
});

test('only canonical addresses reach a command: hostile text is not an Ip', () => {
  for (const s of ['1.2.3.4; rm -rf /', '1.2.3.4 ', '$(id)', 'fe80::1%eth0', '[::1]', '01.2.3.4', '1.2.3.4`x`']) {
    assert.equal(parseIp(s), undefined, s);
  }
  // every character an expansion can insert comes from [0-9a-f.:]
  for (const s of ['255.255.255.255', 'ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff', '::ffff:1.2.3.4']) {
    const out = expandCommand('%IP%', ip(s));
    assert.ok(out !== undefined && /^[0-9a-f.:]+$/.test(out), s);
  }
});

test('4096-byte limit: < 4096 runs, >= 4096 refused (after expansion)', () => {
  const a = ip('10.0.0.1'); // 8 bytes
  assert.equal(expandCommand('x'.repeat(4095), a)?.length, 4095);
  assert.equal(expandCommand('x'.repeat(4096), a), undefined);
  // 4087 + '%IP%'(4) = 4091 template, expands to 4087 + 8 = 4095 → ok; one more byte → refused
  assert.equal(utf8Length(expandCommand('x'.repeat(4087) + '%IP%', a) ?? ''), 4095);
  assert.equal(expandCommand('x'.repeat(4088) + '%IP%', a), undefined);
  // bytes, not UTF-16 units: 1366 × 'é' (2 bytes) = 2732 ok; 2048 × 'é' = 4096 refused
  assert.ok(expandCommand('é'.repeat(1366), a) !== undefined);
  assert.equal(expandCommand('é'.repeat(2048), a), undefined);
  assert.equal(MAX_COMMAND_BYTES, 4096);
});

test('utf8Length matches Buffer.byteLength', () => {
  for (const s of ['', 'abc', 'é', '€', '😀', 'a😀b', '\ud800', '\udc00x', 'x\ud83d']) {
    assert.equal(utf8Length(s), Buffer.byteLength(s, 'utf8'), JSON.stringify(s));
  }
});
