import { test } from 'node:test';
import assert from 'node:assert/strict';
import { chmodSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { keyringRevision, loadKeyring, writeKeyRecord } from '../../src/io/keystore.js';
import { loadKeys, watchKeys } from '../../src/io/keys-load.js';
import { edRecord } from '../helpers/keys.js';

const tmp = () => { const d = mkdtempSync(join(tmpdir(), 'kts-keysload-')); chmodSync(d, 0o700); return d; };

test('loadKeys returns the previous load itself while nothing changed, and the new records after a change', () => {
  const dir = tmp();
  try {
    writeKeyRecord(dir, edRecord('alice'));
    const a = loadKeys(dir);
    assert.equal(loadKeys(dir, a), a, 'unchanged: nothing rebuilt');
    const alice = a.keyring.byName('alice')!;
    writeKeyRecord(dir, { ...alice, revoked: 1234 }, { overwrite: true });
    const b = loadKeys(dir, a);
    assert.notEqual(b, a);
    assert.equal(b.keyring.byName('alice')?.revoked, 1234);
    assert.equal(b.revision, keyringRevision(dir));
    chmodSync(dir, 0o777);
    assert.throws(() => loadKeys(dir, b), (e: unknown) => (e as { code?: string }).code === 'ERR_KEYS_DIR', 'a directory that became untrusted is an error, not the old keyring');
    chmodSync(dir, 0o700);
    const missing = join(dir, 'sub');
    assert.equal(loadKeys(missing).keyring.size, 0, 'a missing KeysDir is created, empty');
  } finally { rmSync(dir, { recursive: true, force: true }); }
});

test('watchKeys reports a revocation without restart; the next loadKeys applies it', async () => {
  const dir = tmp();
  try {
    writeKeyRecord(dir, edRecord('alice'));
    writeKeyRecord(dir, edRecord('bob'));
    const before = loadKeys(dir);
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => { stop(); reject(new Error('no change reported within 6 s')); }, 6000);
      const stop = watchKeys(dir, () => { clearTimeout(timer); stop(); resolve(); });
      const a = loadKeyring(dir).keyring.byName('alice')!;
      setTimeout(() => writeKeyRecord(dir, { ...a, revoked: Date.now() - 1 }, { overwrite: true }), 50);
    });
    const after = loadKeys(dir, before);
    assert.notEqual(after.keyring.byName('alice')?.revoked, undefined);
    assert.equal(after.keyring.byName('bob')?.revoked, undefined, 'bob stays enrolled');
  } finally { rmSync(dir, { recursive: true, force: true }); }
});
