/**
 * Key-file line and base64 parsing, written out by hand for start-up cost (issue 11), against the
 * regular expressions they replaced: `name: value` lines (keys/client.ts fieldLine, once
 * /^([a-z]+):\s*(\S+)$/) and strict base64 (keys/id.ts fromB64, once an alphabet expression and
 * a length check before the round trip). Both must accept and return exactly what the old code did.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { fieldLine } from '../../../src/core/keys/client.js';
import { fromB64 } from '../../../src/core/keys/id.js';
import { prng } from '../../helpers/prng.js';

const FIELD = /^([a-z]+):\s*(\S+)$/;
const oldField = (l: string) => { const m = FIELD.exec(l); return m ? { name: m[1], value: m[2] } : undefined; };
function oldFromB64(s: string, len?: number): Uint8Array | undefined {
  if (!/^[A-Za-z0-9+/]*={0,2}$/.test(s) || s.length % 4 !== 0) return undefined;
  const b = Buffer.from(s, 'base64');
  if (b.toString('base64') !== s) return undefined;
  if (len !== undefined && b.length !== len) return undefined;
  return new Uint8Array(b);
}

test('fieldLine vectors', () => {
  assert.deepEqual(fieldLine('seed: abc='), { name: 'seed', value: 'abc=' });
  assert.deepEqual(fieldLine('id:00ff'), { name: 'id', value: '00ff' });
  assert.deepEqual(fieldLine('type:\t ed25519'), { name: 'type', value: 'ed25519' });
  assert.deepEqual(fieldLine('name: a:b'), { name: 'name', value: 'a:b' });
  for (const bad of ['', ':', 'seed:', 'seed: ', ': x', 'Seed: x', 'se ed: x', 'seed : x', 'seed: a b', 'seed: a\u00a0b', 'seed: a\u2028b', 'seed1: x', 'x']) {
    assert.equal(fieldLine(bad), undefined, JSON.stringify(bad));
    assert.equal(oldField(bad), undefined, `old: ${JSON.stringify(bad)}`);
  }
});

test('fieldLine agrees with the old expression on generated lines', () => {
  const r = prng(0x1badb002);
  const alphabet = ['a', 'z', 'q', 'A', '0', ':', ':', ' ', ' ', '\t', '\u00a0', '\u3000', '\ufeff', '=', '+', '/', '-', '#', 'é'];
  for (let i = 0; i < 100000; i++) {
    const l = r.string(alphabet, 12);
    assert.deepEqual(fieldLine(l), oldField(l), JSON.stringify(l));
  }
});

test('fromB64 agrees with the old alphabet-checking version', () => {
  const r = prng(0x5eed1234);
  const chars = 'AQgw+/=Zz09 \n-_.*';
  const samples: string[] = ['', '====', 'AA==', 'AA=', 'AAA=', 'AAAA', 'AB==', 'A===', Buffer.alloc(32, 7).toString('base64')];
  for (let i = 0; i < 100000; i++) samples.push(r.string(chars, 13));
  for (let i = 0; i < 2000; i++) {
    const s = Buffer.from(r.bytes(r.int(40))).toString('base64');
    samples.push(s, s.replace(/=+$/, ''), `${s} `, s.replace(/\+/g, '-'), s.toLowerCase());
  }
  for (const s of samples) {
    for (const len of [undefined, 1, 32]) assert.deepEqual(fromB64(s, len), oldFromB64(s, len), `${JSON.stringify(s)} ${len}`);
  }
});
