/** keys/ documents the KeysDir layout and must never hold a secret. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { repoRoot } from '../helpers/paths.js';
import { keyStatus, parseKeyRecord } from '../../src/core/keys/record.js';

const dir = join(repoRoot, 'keys');

test('keys/example.key parses as a record, is ed25519 (public only), revoked and expired', () => {
  const r = parseKeyRecord(readFileSync(join(dir, 'example.key'), 'utf8'), 'keys/example.key', 'example');
  assert.equal(r.type, 'ed25519');
  assert.equal(r.secret, undefined);
  assert.equal(r.id, '8cfe6af203a835e7');
  assert.deepEqual(r.doors, ['test-only-no-such-door']);
  assert.equal(keyStatus(r, Date.UTC(2001, 0, 1)), 'revoked');
  assert.match(r.comment ?? '', /TEST-ONLY/);
});

test('keys/ holds no secret material', () => {
  const files = readdirSync(dir);
  assert.deepEqual(files.sort(), ['README.md', 'example.key']);
  for (const f of files) {
    const t = readFileSync(join(dir, f), 'utf8');
    const lines = t.split('\n').filter((l) => !l.trimStart().startsWith('#') && !l.trimStart().startsWith('|') && !l.startsWith('    '));
    for (const l of lines) {
      assert.doesNotMatch(l, /^\s*(secret\s*=|mac1\s*=|seed:|secret:)/, `${f}: ${l}`);
      assert.doesNotMatch(l, /^\s*knockd-ts-key v[12]\s*$/, `${f}: a client private key file header`);
      assert.doesNotMatch(l, /BEGIN [A-Z ]*PRIVATE KEY/, f);
    }
  }
});
