import { test } from 'node:test';
import assert from 'node:assert/strict';
import { chmodSync, chownSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { toB64, keyIdHex } from '../../src/core/keys/id.js';
import { keyringRevision, loadKeyring, removeKeyRecord, writeKeyRecord, type KeyringLoad } from '../../src/io/keystore.js';
import { edRecord } from '../helpers/keys.js';

const secret = (n: number) => new Uint8Array(32).fill(n);
const tmp = () => { const d = mkdtempSync(join(tmpdir(), 'h4-keys-')); chmodSync(d, 0o700); return d; };
const code = (c: string, re?: RegExp) => (e: unknown) => (e as { code?: string }).code === c && (!re || re.test((e as Error).message));
const names = (l: KeyringLoad) => l.keyring.list().map((r) => r.name);
const refused = (l: KeyringLoad) => l.refused.map((r) => `${r.path.slice(r.path.lastIndexOf('/') + 1)}: ${r.error}`);

test('write, load, revoke visible to a fresh loadKeyring', () => {
  const dir = tmp();
  try {
    writeKeyRecord(dir, edRecord('alice'));
    writeKeyRecord(dir, { name: 'erin', type: 'hmac', id: keyIdHex('hmac', secret(9)), secret: secret(9), doors: ['ssh'], from: [] });
    assert.throws(() => writeKeyRecord(dir, edRecord('alice', 'other')), code('ERR_KEY_EXISTS', /key 'alice' already exists/));
    const k = loadKeyring(dir).keyring;
    assert.deepEqual(k.list().map((r) => r.name), ['alice', 'erin']);
    assert.equal(k.byName('alice')?.revoked, undefined);
    writeKeyRecord(dir, { ...k.byName('alice')!, revoked: 1234 }, { overwrite: true });
    assert.equal(loadKeyring(dir).keyring.byName('alice')?.revoked, 1234);
    removeKeyRecord(dir, 'erin');
    assert.deepEqual(names(loadKeyring(dir)), ['alice']);
    assert.throws(() => removeKeyRecord(dir, 'erin'), code('ERR_KEY_UNKNOWN'));
  } finally { rmSync(dir, { recursive: true, force: true }); }
});

test('a directory that cannot be trusted loads nothing; a bad file is refused alone and named', () => {
  const dir = tmp();
  try {
    writeKeyRecord(dir, edRecord('alice'));
    writeKeyRecord(dir, edRecord('bob'));
    const f = join(dir, 'alice.key');
    chmodSync(dir, 0o777);
    assert.throws(() => loadKeyring(dir), code('ERR_KEYS_DIR', new RegExp(`'${dir}' is writable by group/other \\(mode 0777\\)`)));
    chmodSync(dir, 0o755);
    chmodSync(f, 0o666);
    let l = loadKeyring(dir);
    assert.deepEqual(names(l), ['bob'], 'bob still loads');
    assert.match(refused(l).join('\n'), new RegExp(`alice\\.key: permissions 0666 for '${f}' are too open`));
    chmodSync(f, 0o644);
    assert.equal(loadKeyring(dir).keyring.size, 2, 'a public record may be world-readable');
    writeKeyRecord(dir, { name: 'erin', type: 'hmac', id: keyIdHex('hmac', secret(9)), secret: secret(9), doors: [], from: [] });
    chmodSync(join(dir, 'erin.key'), 0o640);
    assert.match(refused(loadKeyring(dir)).join(), /erin\.key' are too open \(it holds a secret/);
    chmodSync(join(dir, 'erin.key'), 0o600);
    writeKeyRecord(dir, edRecord('vic', 'vic', {}, 2));
    chmodSync(join(dir, 'vic.key'), 0o644);
    assert.match(refused(loadKeyring(dir)).join(), /vic\.key' are too open \(it holds a secret/, 'a v2 mac1 key is kept like a secret');
    chmodSync(join(dir, 'vic.key'), 0o600);
    l = loadKeyring(dir);
    assert.equal(l.keyring.size, 4);
    assert.deepEqual(l.refused, []);
    if (process.getuid?.() === 0) {
      chownSync(f, 12345, 12345);
      assert.match(refused(loadKeyring(dir)).join(), /alice\.key' is owned by uid 12345/);
      chownSync(f, 0, 0);
      chownSync(dir, 12345, 12345);
      assert.throws(() => loadKeyring(dir), code('ERR_KEYS_DIR', /owned by uid 12345/));
      chownSync(dir, 0, 0);
    }
    assert.throws(() => loadKeyring(join(dir, 'missing')), code('ERR_KEYS_DIR', /missing/));
  } finally { rmSync(dir, { recursive: true, force: true }); }
});

test('README, alice.key~, symlinks and malformed records are refused one by one; the others load', () => {
  const dir = tmp();
  try {
    writeKeyRecord(dir, edRecord('alice'));
    writeFileSync(join(dir, '.alice.key.swp'), 'ignored'); // dotfiles are ignored
    assert.deepEqual(loadKeyring(dir).refused, []);
    writeFileSync(join(dir, 'README'), 'x', { mode: 0o600 });
    writeFileSync(join(dir, 'alice.key~'), readFileSync(join(dir, 'alice.key')), { mode: 0o600 });
    symlinkSync(join(dir, 'alice.key'), join(dir, 'bob.key'));
    writeFileSync(join(dir, 'carol.key'), `name = carol\ntype = ed25519\npublic = ${toB64(edRecord('c').publicKey!)}\nfrm = 10.0.0.0/8\n`, { mode: 0o600 });
    const l = loadKeyring(dir);
    assert.deepEqual(names(l), ['alice']);
    const r = refused(l);
    assert.equal(r.length, 4, r.join('\n'));
    assert.match(r[0]!, /^README: unexpected file/);
    assert.match(r[1]!, /^alice\.key~: unexpected file/);
    assert.match(r[2]!, /^bob\.key: .*bob\.key' is a symbolic link/);
    assert.match(r[3]!, /^carol\.key: .*carol\.key:4: unknown key 'frm'/);
  } finally { rmSync(dir, { recursive: true, force: true }); }
});

test('two records with the same key id are both refused: a revoked copy always revokes', () => {
  const dir = tmp();
  try {
    writeKeyRecord(dir, edRecord('alice'));
    writeKeyRecord(dir, edRecord('zed', 'alice', { revoked: 1000 }));   // the same key, revoked, under another name
    writeKeyRecord(dir, edRecord('bob'));
    const l = loadKeyring(dir);
    assert.deepEqual(names(l), ['bob']);
    assert.equal(l.refused.length, 2);
    for (const r of l.refused) assert.match(r.error, /keys 'alice', 'zed' have the same key id [0-9a-f]{16}.*all of them are refused/);
  } finally { rmSync(dir, { recursive: true, force: true }); }
});

test('weak Ed25519 keys and control characters in a record on disk are refused', () => {
  const dir = tmp();
  try {
    const identity = new Uint8Array(32); identity[0] = 1;
    writeFileSync(join(dir, 'weak.key'), `name = weak\ntype = ed25519\npublic = ${toB64(identity)}\n`, { mode: 0o600 });
    writeFileSync(join(dir, 'esc.key'), `name = esc\ntype = ed25519\npublic = ${toB64(edRecord('esc').publicKey!)}\ncomment = hi\x1b]52;c;Zm9v\x07\n`, { mode: 0o600 });
    const l = loadKeyring(dir);
    assert.deepEqual(names(l), []);
    const r = refused(l).join('\n');
    assert.match(r, /weak\.key:3: public = 'AQAAA.*': refused: the public key is a small-order point/);
    assert.match(r, /esc\.key:4: holds a control character \(\\x1b\) at position 13/);
    assert.ok(!r.includes('\x1b'), 'the message itself carries no escape');
  } finally { rmSync(dir, { recursive: true, force: true }); }
});

test('revision: the same for every reader, changed by every write, rename and permission change', () => {
  const dir = tmp();
  try {
    const r0 = keyringRevision(dir);
    writeKeyRecord(dir, edRecord('alice'));
    const r1 = keyringRevision(dir);
    assert.notEqual(r1, r0);
    assert.equal(loadKeyring(dir).revision, r1, 'loadKeyring reports the revision it loaded');
    assert.equal(keyringRevision(dir), r1, 'stable while nothing changes');
    writeFileSync(join(dir, '.alice.key.1.tmp'), 'x');
    assert.equal(keyringRevision(dir), r1, 'dotfiles (temporary files) do not count');
    writeKeyRecord(dir, { ...edRecord('alice'), revoked: 5 }, { overwrite: true });
    const r2 = keyringRevision(dir);
    assert.notEqual(r2, r1);
    chmodSync(join(dir, 'alice.key'), 0o644);
    assert.notEqual(keyringRevision(dir), r2);
  } finally { rmSync(dir, { recursive: true, force: true }); }
});

test('root writing into a KeysDir owned by the service user gives records that owner (admin trust)', { skip: process.geteuid?.() !== 0 ? 'needs root to chown' : undefined }, () => {
  const dir = tmp();
  try {
    chownSync(dir, 4010, 4011);
    assert.throws(() => loadKeyring(dir), code('ERR_KEYS_DIR', /owned by uid 4010, not root/), 'strict (the daemon as root) refuses it');
    writeKeyRecord(dir, edRecord('alice'), { mode: 'admin' });
    const st = statSync(join(dir, 'alice.key'));
    assert.deepEqual([st.uid, st.gid, st.mode & 0o777], [4010, 4011, 0o600]);
    assert.deepEqual(names(loadKeyring(dir, { mode: 'admin' })), ['alice']);
  } finally { rmSync(dir, { recursive: true, force: true }); }
});

test('fixture records load (TEST-ONLY keys)', async () => {
  const { fixture } = await import('../helpers/paths.js');
  const dir = tmp();
  try {
    mkdirSync(join(dir, 'keys'), { mode: 0o700 });
    for (const n of ['alice.key', 'erin.key']) writeFileSync(join(dir, 'keys', n), readFileSync(fixture('keys', 'server', n)), { mode: 0o600 });
    const l = loadKeyring(join(dir, 'keys'));
    assert.deepEqual(l.keyring.list().map((r) => `${r.name}:${r.type}`), ['alice:ed25519', 'erin:hmac']);
  } finally { rmSync(dir, { recursive: true, force: true }); }
});

test('a load given the previous one re-reads only the files that changed; a file written in the last 2 s is always read', () => {
  const dir = tmp();
  try {
    writeKeyRecord(dir, edRecord('alice'));
    writeKeyRecord(dir, edRecord('bob'));
    const later = Date.now() + 10_000;   // as if the files were written long ago
    const a = loadKeyring(dir, { now: later });
    const b = loadKeyring(dir, { prev: a, now: later });
    assert.equal(b.keyring.byName('alice'), a.keyring.byName('alice'), 'an unchanged settled file is not read again');
    assert.equal(b.keyring.byName('bob'), a.keyring.byName('bob'));
    assert.notEqual(loadKeyring(dir, { prev: a }).keyring.byName('alice'), a.keyring.byName('alice'), 'a file younger than 2 s is read again');

    // a rewrite (rename: new inode), an in-place append, a chmod: each is read again and judged again
    writeKeyRecord(dir, { ...edRecord('alice'), revoked: 1234 }, { overwrite: true });
    const bob = join(dir, 'bob.key');
    writeFileSync(bob, `${readFileSync(bob, 'utf8')}comment = x\n`);
    const c = loadKeyring(dir, { prev: b, now: later });
    assert.equal(c.keyring.byName('alice')?.revoked, 1234, 'the rewritten record is the new one');
    assert.equal(c.keyring.byName('bob')?.comment, 'x', 'the appended record is the new one');
    chmodSync(bob, 0o666);
    const d = loadKeyring(dir, { prev: c, now: later });
    assert.deepEqual(names(d), ['alice'], 'a permission change is judged again');
    assert.match(refused(d).join(), /bob\.key' are too open/);
    // a different trust context never reuses
    assert.equal(loadKeyring(dir, { prev: c, now: later, mode: 'admin' }).keyring.byName('alice') === c.keyring.byName('alice'), false);
  } finally { rmSync(dir, { recursive: true, force: true }); }
});
