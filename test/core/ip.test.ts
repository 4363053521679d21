/**
 * Strict IPv4 text (src/core/ip.ts). The parser is written out by hand (start-up cost of the
 * client, issue 11); it must accept exactly what the regular expression it replaced accepted:
 * four parts `25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d` joined by dots, nothing before or after. REFERENCE
 * is that expression; the vectors and the generated strings are checked against both.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseCidr, parseIp } from '../../src/core/ip.js';
import { prng } from '../helpers/prng.js';

const PART = '(25[0-5]|2[0-4]\\d|1\\d\\d|[1-9]?\\d)';
const REFERENCE = new RegExp(`^${PART}\\.${PART}\\.${PART}\\.${PART}$`);
const reference = (s: string): number[] | undefined => {
  const m = REFERENCE.exec(s);
  return m ? [Number(m[1]), Number(m[2]), Number(m[3]), Number(m[4])] : undefined;
};
const v4 = (s: string): number[] | undefined => {
  const ip = parseIp(s);
  return ip?.family === 4 ? [...ip.bytes] : undefined;
};

test('IPv4 vectors: valid dotted quads', () => {
  const rows: Array<[string, number[]]> = [
    ['0.0.0.0', [0, 0, 0, 0]], ['127.0.0.1', [127, 0, 0, 1]], ['255.255.255.255', [255, 255, 255, 255]],
    ['1.22.199.200', [1, 22, 199, 200]], ['249.250.9.10', [249, 250, 9, 10]], ['192.0.2.1', [192, 0, 2, 1]],
  ];
  for (const [s, bytes] of rows) {
    assert.deepEqual(v4(s), bytes, s);
    assert.equal(parseIp(s)?.text, s, s);
    assert.deepEqual(reference(s), bytes, `reference: ${s}`);
  }
});

test('IPv4 vectors: refused (leading zeros, range, dots, empty parts, junk)', () => {
  const bad = [
    '01.2.3.4', '1.02.3.4', '1.2.3.04', '00.0.0.0', '1.2.3.00', '001.2.3.4', '1.2.3.010',   // leading zeros
    '256.0.0.0', '1.2.3.256', '1.300.3.4', '999.1.1.1', '1000.1.1.1', '1.2.3.2555',       // out of range
    '1.2.3', '1.2.3.4.5', '1.2.3.4.', '.1.2.3.4', '1..2.3', '1.2..3.4', '....', '1.2.3.',  // dots, empty parts
    '', ' 1.2.3.4', '1.2.3.4 ', '1.2.3.4\n', '1.2.3.4x', 'x1.2.3.4', '1.2.3.4/24', '1.2.3.-4', '+1.2.3.4',
    '1.2.3.٤', '1.2.3.４', '1,2,3,4', '1.2.3.4%eth0', '0x1.2.3.4', '1e2.2.3.4',               // not ASCII digits
  ];
  for (const s of bad) {
    assert.equal(parseIp(s), undefined, JSON.stringify(s));
    assert.equal(reference(s), undefined, `reference: ${JSON.stringify(s)}`);
  }
});

test('IPv4 parser agrees with the reference expression on every combination of tricky parts', () => {
  const parts = ['', '0', '00', '01', '1', '9', '09', '10', '99', '100', '109', '199', '200', '249', '250', '255', '256',
    '260', '300', '999', '0000', '1234', 'a', '1a', ' 1', '-1', '٣'];
  let n = 0, accepted = 0;
  for (const a of parts) for (const b of parts) for (const c of parts) for (const d of ['0', '255', '256', '01', '', '1.', '1.1']) {
    for (const s of [`${a}.${b}.${c}.${d}`, `${a}.${b}.${c}`, `${a}${b}.${c}.${d}`]) {
      n++;
      const want = reference(s);
      if (want) accepted++;
      assert.deepEqual(v4(s), want, JSON.stringify(s));
    }
  }
  assert.ok(n > 40000 && accepted > 1000, `${n} strings, ${accepted} accepted`);
});

test('IPv4 parser agrees with the reference expression on random strings over digits and dots', () => {
  const r = prng(0x2545f491);
  const alphabet = '0123456789.......12255x ';
  for (let i = 0; i < 100000; i++) {
    const s = r.string(alphabet, 18);
    assert.deepEqual(v4(s), reference(s), JSON.stringify(s));
  }
});

test('IPv4 inside IPv6 and CIDR use the same strict rule', () => {
  assert.equal(parseIp('::ffff:192.0.2.1')?.text, '::ffff:192.0.2.1');
  assert.equal(parseIp('::ffff:192.0.2.01'), undefined);
  assert.equal(parseIp('::ffff:192.0.2.256'), undefined);
  assert.equal(parseIp('::ffff:192.0.2'), undefined);
  assert.equal(parseCidr('10.0.0.0/8')?.text, '10.0.0.0/8');
  assert.equal(parseCidr('010.0.0.0/8'), undefined);
});
