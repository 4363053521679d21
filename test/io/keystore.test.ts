import { test } from 'node:test';
import assert from 'node:assert/strict';
import { chmodSync, chownSync, mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { toB64, keyIdHex } from '../../src/core/keys/id.js';
import { Keyring } from '../../src/core/keys/keyring.js';
import { loadKeyring, revokedNames, watchKeyring, writeKeyRecord } from '../../src/io/keystore.js';
import type { KeyRecord } from '../../src/core/keys/record.js';

const pub = (n: number) => new Uint8Array(32).fill(n);
const rec = (name: string, n: number, extra: Partial<KeyRecord> = {}): KeyRecord =>
  ({ name, type: 'ed25519', id: keyIdHex('ed25519', pub(n)), publicKey: pub(n), doors: [], from: [], ...extra });
const tmp = () => { const d = mkdtempSync(join(tmpdir(), 'h4-keys-')); chmodSync(d, 0o700); return d; };
const code = (c: string, re?: RegExp) => (e: unknown) => (e as { code?: string }).code === c && (!re || re.test((e as Error).message));

test('write, load, revoke visible to a fresh loadKeyring', () => {
  const dir = tmp();
  try {
    writeKeyRecord(dir, rec('alice', 1));
    writeKeyRecord(dir, { name: 'erin', type: 'hmac', id: keyIdHex('hmac', pub(9)), secret: pub(9), doors: ['ssh'], from: [] });
    assert.throws(() => writeKeyRecord(dir, rec('alice', 2)), code('ERR_KEY_EXISTS'));
    const k = loadKeyring(dir);
    assert.deepEqual(k.list().map((r) => r.name), ['alice', 'erin']);
    assert.equal(k.byName('alice')?.revoked, undefined);
    writeKeyRecord(dir, { ...k.byName('alice')!, revoked: 1234 }, { overwrite: true });
    assert.equal(loadKeyring(dir).byName('alice')?.revoked, 1234);
    assert.deepEqual(revokedNames(k, loadKeyring(dir), 2000), ['alice']);
  } finally { rmSync(dir, { recursive: true, force: true }); }
});

test('permission and ownership refusals name the path', () => {
  const dir = tmp();
  try {
    writeKeyRecord(dir, rec('alice', 1));
    const f = join(dir, 'alice.key');
    chmodSync(dir, 0o777);
    assert.throws(() => loadKeyring(dir), code('ERR_KEYS_DIR', new RegExp(`'${dir}' is writable by group/other \\(mode 0777\\)`)));
    chmodSync(dir, 0o755);
    chmodSync(f, 0o666);
    assert.throws(() => loadKeyring(dir), code('ERR_KEY_FILE', new RegExp(`permissions 0666 for '${f}' are too open`)));
    chmodSync(f, 0o644);
    assert.equal(loadKeyring(dir).size, 1, 'a public record may be world-readable');
    writeKeyRecord(dir, { name: 'erin', type: 'hmac', id: keyIdHex('hmac', pub(9)), secret: pub(9), doors: [], from: [] });
    chmodSync(join(dir, 'erin.key'), 0o640);
    assert.throws(() => loadKeyring(dir), code('ERR_KEY_FILE', /erin\.key' are too open \(it holds a secret/));
    chmodSync(join(dir, 'erin.key'), 0o600);
    assert.equal(loadKeyring(dir).size, 2);
    if (process.getuid?.() === 0) {
      chownSync(f, 12345, 12345);
      assert.throws(() => loadKeyring(dir), code('ERR_KEY_FILE', /owned by uid 12345/));
      chownSync(f, 0, 0);
      chownSync(dir, 12345, 12345);
      assert.throws(() => loadKeyring(dir), code('ERR_KEYS_DIR', /owned by uid 12345/));
      chownSync(dir, 0, 0);
    }
    assert.throws(() => loadKeyring(join(dir, 'missing')), code('ERR_KEYS_DIR', /missing/));
  } finally { rmSync(dir, { recursive: true, force: true }); }
});

test('unexpected files, symlinks, malformed records and duplicate keys are refused', () => {
  const dir = tmp();
  try {
    writeKeyRecord(dir, rec('alice', 1));
    writeFileSync(join(dir, '.alice.key.swp'), 'ignored'); // dotfiles are ignored
    assert.equal(loadKeyring(dir).size, 1);
    writeFileSync(join(dir, 'README'), 'x', { mode: 0o600 });
    assert.throws(() => loadKeyring(dir), code('ERR_KEY_FILE', /README': unexpected file/));
    rmSync(join(dir, 'README'));
    symlinkSync(join(dir, 'alice.key'), join(dir, 'bob.key'));
    assert.throws(() => loadKeyring(dir), code('ERR_KEY_FILE', /bob\.key' is a symbolic link/));
    rmSync(join(dir, 'bob.key'));
    writeFileSync(join(dir, 'bob.key'), `name = bob\ntype = ed25519\npublic = ${toB64(pub(2))}\nfrm = 10.0.0.0/8\n`, { mode: 0o600 });
    assert.throws(() => loadKeyring(dir), code('ERR_KEY_FILE', /bob\.key:4: unknown key 'frm'/));
    writeFileSync(join(dir, 'bob.key'), `name = bob\ntype = ed25519\npublic = ${toB64(pub(1))}\n`, { mode: 0o600 });
    assert.throws(() => loadKeyring(dir), code('ERR_KEY_FILE', /same key id/));
  } finally { rmSync(dir, { recursive: true, force: true }); }
});

test('watchKeyring reports a revocation without restart', async () => {
  const dir = tmp();
  try {
    writeKeyRecord(dir, rec('alice', 1));
    writeKeyRecord(dir, rec('bob', 2));
    const got = await new Promise<{ k: Keyring; revoked: string[] }>((resolve, reject) => {
      const timer = setTimeout(() => { stop(); reject(new Error('no change reported within 6 s')); }, 6000);
      const stop = watchKeyring(dir, (k, revoked) => { clearTimeout(timer); stop(); resolve({ k, revoked }); });
      const a = loadKeyring(dir).byName('alice')!;
      setTimeout(() => writeKeyRecord(dir, { ...a, revoked: Date.now() - 1 }, { overwrite: true }), 50);
    });
    assert.deepEqual(got.revoked, ['alice']);
    assert.notEqual(got.k.byName('alice')?.revoked, undefined);
  } finally { rmSync(dir, { recursive: true, force: true }); }
});

test('fixture records load (TEST-ONLY keys)', async () => {
  const { fixture } = await import('../helpers/paths.js');
  const { readFileSync } = await import('node:fs');
  const dir = tmp();
  try {
    mkdirSync(join(dir, 'keys'), { mode: 0o700 });
    for (const n of ['alice.key', 'erin.key']) writeFileSync(join(dir, 'keys', n), readFileSync(fixture('keys', 'server', n)), { mode: 0o600 });
    const k = loadKeyring(join(dir, 'keys'));
    assert.deepEqual(k.list().map((r) => `${r.name}:${r.type}`), ['alice:ed25519', 'erin:hmac']);
  } finally { rmSync(dir, { recursive: true, force: true }); }
});
