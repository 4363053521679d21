/** One-time-sequence text helpers (pure). */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { findSequence, firstValidSequence, hitsEqual, markUsed, validSequences } from '../../../src/core/knock/ots.js';
import { isAppError } from '../../../src/core/errors.js';
import { seq } from './util.js';

const first: Array<[string, string, string, number | undefined, string | undefined]> = [
  // id, what, file text, expected line index, expected hits (as test seq text)
  ['O01', 'first line', '1001,1002\n2001\n', 0, '1001,1002'],
  ['O02', 'skips empty, blank and # lines', '\n   \n# 1001\n  #x\n 2001:udp , 2002 \n', 4, '2001/udp,2002'],
  ['O03', 'skips invalid lines (knockd V53): trailing comma, port 0, bad proto, 3 fields',
    '7000,\n0\n7000:icmp\n7000:udp:x\n-1\n 3001\n', 5, '3001'],
  ['O04', 'CRLF line ends', '# c\r\n\r\n 4001,4002:UDP\r\n', 2, '4001,4002/udp'],
  ['O05', 'UTF-8 BOM (as U+FEFF) on the first line', '\uFEFF5001\n', 0, '5001'],
  ['O06', 'UTF-8 BOM read as latin1 bytes', '\u00EF\u00BB\u00BF5002\n', 0, '5002'],
  ['O07', 'exhausted file', '#1\n# 2\n\n', undefined, undefined],
  ['O08', 'empty file', '', undefined, undefined],
  ['O09', 'last line without newline', '#1001\n6001,6002', 1, '6001,6002'],
];

for (const [id, what, text, idx, hits] of first) {
  test(`${id} firstValidSequence: ${what}`, () => {
    const r = firstValidSequence(text);
    if (idx === undefined) assert.equal(r, undefined);
    else assert.deepEqual(r, { lineIndex: idx, hits: seq(hits ?? '') });
  });
}

const marks: Array<[string, string, string, number, string]> = [
  ['U01', 'leading digit kept (knockd writes #101,2102:udp, R07)', '2101,2102:udp\n3101\n', 0, '#2101,2102:udp\n3101\n'],
  ['U02', 'leading-space line (man page advice)', ' 2001,2002\n 3001\n', 0, '# 2001,2002\n 3001\n'],
  ['U03', 'CRLF kept byte for byte', '# a\r\n 1001\r\n 2001\r\n', 1, '# a\r\n# 1001\r\n 2001\r\n'],
  ['U04', 'last line without newline', '1001\n2001', 1, '1001\n#2001'],
  ['U05', 'BOM stays in front', '\uFEFF1001\n2001\n', 0, '\uFEFF#1001\n2001\n'],
  ['U06', 'latin1 BOM bytes stay in front', '\u00EF\u00BB\u00BF1001\n', 0, '\u00EF\u00BB\u00BF#1001\n'],
  ['U07', 'other bytes (tabs, high latin1) untouched', '\t1001\u00FF\n\t2001 # x\u0080\n', 1, '\t1001\u00FF\n#\t2001 # x\u0080\n'],
];

for (const [id, what, text, line, want] of marks) {
  test(`${id} markUsed: ${what}`, () => {
    const out = markUsed(text, line);
    assert.equal(out, want);
    assert.equal(out.length, text.length + 1);
  });
}

test('U08 markUsed refuses a line index outside the text', () => {
  for (const bad of [-1, 2, 1.5, Number.NaN]) {
    assert.throws(() => markUsed('1001\n', bad), (e) => isAppError(e) && e.code === 'ERR_INTERNAL', String(bad));
  }
});

test('U09 R08: an invalid line before the current one does not take the mark; the used sequence cannot be reused', () => {
  const text = '7000,\n 1001,1002\n 2001\n';
  const used = seq('1001,1002');
  const line = findSequence(text, used);
  assert.deepEqual(line, { lineIndex: 1, hits: used });
  const after = markUsed(text, line?.lineIndex ?? -1);
  assert.equal(after, '7000,\n# 1001,1002\n 2001\n');
  assert.equal(findSequence(after, used), undefined);
  assert.deepEqual(firstValidSequence(after)?.hits, seq('2001'));
});

test('U10 findSequence compares every hit (port and protocol), not a prefix of bytes', () => {
  const text = ' 1001,1002\n 1001,1002:udp\n 1001,1002,1003\n 1001\n';
  assert.equal(findSequence(text, seq('1001,1002/udp'))?.lineIndex, 1);
  assert.equal(findSequence(text, seq('1001,1002,1003'))?.lineIndex, 2);
  assert.equal(findSequence(text, seq('1001'))?.lineIndex, 3);
  assert.equal(findSequence(text, seq('1001,1003')), undefined);
  assert.deepEqual(validSequences(text).map((l) => l.lineIndex), [0, 1, 2, 3]);
  assert.equal(hitsEqual(seq('1,2'), seq('1,2')), true);
  assert.equal(hitsEqual(seq('1,2'), seq('1,2/udp')), false);
  assert.equal(hitsEqual(seq('1,2'), seq('1')), false);
});
