import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseSequence, formatSequence } from '../../../src/core/config/sequence.js';
import { cAtoi, cTrim, cUpper, knockdSequence } from '../../../src/core/config/catoi.js';

const VALID: ReadonlyArray<readonly [string, string]> = [
  ['7000,8000,9000', '7000:tcp,8000:tcp,9000:tcp'],
  ['7000,8000:udp,9000', '7000:tcp,8000:udp,9000:tcp'],
  ['2222:udp,3333:tcp,4444:udp', '2222:udp,3333:tcp,4444:udp'],
  ['1000 , 2000:UDP , 3000 : tcp', '1000:tcp,2000:udp,3000:tcp'],
  ['\t1\t', '1:tcp'],
  ['65535:Udp', '65535:udp'],
  ['07000', '7000:tcp'],
  ['000000000065535', '65535:tcp'],
  ['9000,9000,9100', '9000:tcp,9000:tcp,9100:tcp'],
  [Array.from({ length: 32 }, (_, i) => String(i + 1)).join(','), Array.from({ length: 32 }, (_, i) => `${i + 1}:tcp`).join(',')],
];

test('parseSequence accepts what knockd reads with the same meaning', () => {
  for (const [input, want] of VALID) {
    const r = parseSequence(input);
    assert.ok(r.ok, `${JSON.stringify(input)}: ${r.ok ? '' : r.error}`);
    assert.equal(formatSequence(r.hits), want, input);
    // and knockd reads exactly the same hits
    const k = knockdSequence(input);
    assert.ok(k.ok);
    assert.deepEqual(k.hits, r.hits, `knockd meaning of ${input}`);
  }
});

const INVALID: ReadonlyArray<readonly [string, string]> = [
  ['', 'empty knock sequence'],
  ['   ', 'empty knock sequence'],
  ['7000,', 'item 2 is empty'],
  ['7000,,8000', 'item 2 is empty'],
  [',7000', 'item 1 is empty'],
  ['-1', 'knockd would read port 65535'],
  ['-70000', 'knockd would read port 61072'],
  ['70x', 'knockd would read port 70'],
  ['7000/udp', 'knockd would read port 7000'],
  ['+7000', 'not a decimal number'],
  ['abc', 'knockd would read port 0'],
  ['0', 'port 0 cannot be knocked'],
  ['00', 'port 0 cannot be knocked'],
  ['65536', 'out of range'],
  ['4294973296', 'out of range'],
  ['99999999999999999999999', 'out of range'],
  ['7000:udp:junk', "more than one ':'"],
  ['7000::udp', "more than one ':'"],
  ['7000:', 'unknown protocol ""'],
  ['7000:icmp', 'unknown protocol "icmp"'],
  ['7000:tcp6', 'unknown protocol "tcp6"'],
  [':udp', 'port "" is not a decimal number'],
  ['7 000', 'port "7 000" is not a decimal number'],
  ['7000\u00a0', 'not a decimal number'], // NBSP is not C isspace
  ['１２３', 'not a decimal number'],   // full-width digits
  [Array.from({ length: 33 }, (_, i) => String(i + 1)).join(','), '33 items, at most 32'],
];

test('parseSequence refuses surprising and invalid sequences with a reason', () => {
  for (const [input, want] of INVALID) {
    const r = parseSequence(input);
    assert.equal(r.ok, false, JSON.stringify(input));
    if (!r.ok) assert.ok(r.error.includes(want), `${JSON.stringify(input)}: ${r.error}`);
  }
});

test('formatSequence renders knockd debug form', () => {
  assert.equal(formatSequence([]), '');
  assert.equal(formatSequence([{ port: 1, proto: 'udp' }, { port: 65535, proto: 'tcp' }]), '1:udp,65535:tcp');
});

test('cAtoi emulates glibc atoi on x86-64', () => {
  const V: ReadonlyArray<readonly [string, number]> = [
    ['', 0], ['abc', 0], ['7000x', 7000], [' \t42', 42], ['-1', -1], ['+5', 5], ['12s', 12],
    ['4294967296', 0], ['4294973296', 6000], ['2147483648', -2147483648],
    ['99999999999999999999', -1], ['-99999999999999999999', 0], ['- 5', 0],
  ];
  for (const [s, n] of V) assert.equal(cAtoi(s), n, s);
});

test('knockdSequence emulates parse_port_sequence', () => {
  const OK: ReadonlyArray<readonly [string, string]> = [
    ['7000,', '7000:tcp,0:tcp'], ['', '0:tcp'], ['-1', '65535:tcp'], ['-70000', '61072:tcp'],
    ['7000/udp', '7000:tcp'], ['7000:udp:junk', '7000:udp'], ['4294973296', '6000:tcp'],
    ['99999999999999999999', '65535:tcp'], ['1 : udp', '1:udp'],
  ];
  for (const [s, want] of OK) {
    const r = knockdSequence(s);
    assert.ok(r.ok, s);
    assert.equal(formatSequence(r.hits), want, s);
  }
  const BAD: ReadonlyArray<readonly [string, string]> = [
    ['70000', 'port 70000 is invalid'], ['1:', 'unknown protocol'], ['1:icmp', 'unknown protocol'],
    [Array.from({ length: 33 }, () => '1').join(','), 'too many ports'],
  ];
  for (const [s, want] of BAD) {
    const r = knockdSequence(s);
    assert.equal(r.ok, false, s);
    if (!r.ok) assert.ok(r.error.includes(want), r.error);
  }
});

test('cTrim uses C isspace only; cUpper is ASCII only', () => {
  assert.equal(cTrim(' \t\r\n\v\fx y\r\n'), 'x y');
  assert.equal(cTrim('\u00a0x\u00a0'), '\u00a0x\u00a0');
  assert.equal(cTrim('\u2003x'), '\u2003x');
  assert.equal(cUpper('start_command_6 ß'), 'START_COMMAND_6 ß');
});
