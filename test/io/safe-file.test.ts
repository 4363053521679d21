import { test } from 'node:test';
import assert from 'node:assert/strict';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { checkDir, ensureDir, openAppendSafe, readFileSafe, removeTemps, writeFileAtomic } from '../../src/io/safe-file.js';
import { isAppError } from '../../src/core/errors.js';
import { closeSync, writeSync } from 'node:fs';

const base = mkdtempSync(join(tmpdir(), 'kts-safe-'));
test.after(() => rmSync(base, { recursive: true, force: true }));
let n = 0;
const fresh = (): string => { const d = join(base, `d${++n}`); mkdirSync(d, { mode: 0o700 }); return d; };
const refused = (code: string, re: RegExp) => (e: unknown) => isAppError(e) && e.code === code && re.test(e.message);
const STATE = { code: 'ERR_STATE' as const };

test('checkDir: a private directory passes; group/other-writable, symlinked, missing and non-directories are refused', () => {
  const d = fresh();
  assert.ok(checkDir(d, 'state directory', STATE).isDirectory());
  chmodSync(d, 0o777);
  assert.throws(() => checkDir(d, 'state directory', STATE), refused('ERR_STATE', /writable by group\/other \(mode 0777\)/));
  chmodSync(d, 0o700);
  const link = join(base, `link${n}`);
  symlinkSync(d, link);
  assert.throws(() => checkDir(link, 'state directory', STATE), refused('ERR_STATE', /symbolic link/));
  assert.throws(() => checkDir(join(d, 'nope'), 'state directory', STATE), refused('ERR_STATE', /missing or unreadable \(ENOENT\)/));
  writeFileSync(join(d, 'f'), 'x');
  assert.throws(() => checkDir(join(d, 'f'), 'state directory', STATE), refused('ERR_STATE', /not a directory/));
});

test('checkDir: a directory owned by another user is refused in strict mode', { skip: process.geteuid?.() !== 0 ? 'needs root to chown' : undefined }, async () => {
  const d = fresh();
  const { chownSync } = await import('node:fs');
  chownSync(d, 4321, 4321);
  assert.throws(() => checkDir(d, 'state directory', STATE), refused('ERR_STATE', /owned by uid 4321, not root/));
  // admin mode (root managing a service user's directory) trusts the directory's owner
  assert.equal(checkDir(d, 'key directory', { code: 'ERR_KEYS_DIR', mode: 'admin' }).uid, 4321);
});

test('ensureDir creates a 0700 directory with parents', () => {
  const d = join(fresh(), 'a', 'b');
  ensureDir(d, 'state directory', STATE);
  assert.equal(statSync(d).mode & 0o777, 0o700);
});

test('writeFileAtomic replaces whole files with the given mode and leaves no temporary file', () => {
  const d = fresh();
  const f = join(d, 'doors.log');
  writeFileAtomic(f, 'one\n', { code: 'ERR_STATE', mode: 0o640 });
  writeFileAtomic(f, 'two\n', { code: 'ERR_STATE', mode: 0o600 });
  assert.equal(readFileSync(f, 'utf8'), 'two\n');
  assert.equal(statSync(f).mode & 0o777, 0o600);
  assert.deepEqual(readdirSync(d), ['doors.log']);
});

test('writeFileAtomic createOnly refuses an existing target and keeps it', () => {
  const d = fresh();
  const f = join(d, 'key');
  writeFileAtomic(f, 'a', { code: 'ERR_KEY_FILE', createOnly: true, existsCode: 'ERR_KEY_EXISTS' });
  assert.throws(() => writeFileAtomic(f, 'b', { code: 'ERR_KEY_FILE', createOnly: true, existsCode: 'ERR_KEY_EXISTS' }), refused('ERR_KEY_EXISTS', /already exists/));
  assert.equal(readFileSync(f, 'utf8'), 'a');
  assert.deepEqual(readdirSync(d), ['key']);
});

test('writeFileAtomic never writes through a planted symlink: the link is replaced, its target untouched', () => {
  const d = fresh();
  const victim = join(fresh(), 'victim');
  writeFileSync(victim, 'precious');
  symlinkSync(victim, join(d, 'doors.log'));
  writeFileAtomic(join(d, 'doors.log'), 'ours', { code: 'ERR_STATE' });
  assert.equal(readFileSync(victim, 'utf8'), 'precious');
  assert.equal(readFileSync(join(d, 'doors.log'), 'utf8'), 'ours');
});

test('readFileSafe: refuses symlinks, loose modes, oversize; optional missing files are undefined', () => {
  const d = fresh();
  const f = join(d, 'replay.log');
  writeFileSync(f, 'abc', { mode: 0o600 });
  assert.equal(readFileSafe(f, { ...STATE, maxBytes: 10 })?.toString(), 'abc');
  assert.throws(() => readFileSafe(f, { ...STATE, maxBytes: 2 }), refused('ERR_STATE', /larger than 2 bytes/));
  chmodSync(f, 0o620);
  assert.throws(() => readFileSafe(f, { ...STATE, maxBytes: 10 }), refused('ERR_STATE', /too open \(writable by group\/other\)/));
  chmodSync(f, 0o640);
  assert.throws(() => readFileSafe(f, { ...STATE, maxBytes: 10, secret: true }), refused('ERR_STATE', /holds a secret/));
  symlinkSync(f, join(d, 'l'));
  assert.throws(() => readFileSafe(join(d, 'l'), { ...STATE, maxBytes: 10 }), refused('ERR_STATE', /symbolic link/));
  assert.equal(readFileSafe(join(d, 'missing'), { ...STATE, maxBytes: 10, optional: true }), undefined);
  assert.throws(() => readFileSafe(join(d, 'missing'), { ...STATE, maxBytes: 10 }), refused('ERR_STATE', /ENOENT/));
});

test('openAppendSafe appends, and refuses a symlink or a group-writable file', () => {
  const d = fresh();
  const f = join(d, 'a.log');
  const fd = openAppendSafe(f, { ...STATE, maxBytes: 1e9 });
  writeSync(fd, 'x\n');
  closeSync(fd);
  assert.equal(readFileSync(f, 'utf8'), 'x\n');
  symlinkSync(f, join(d, 'l'));
  assert.throws(() => openAppendSafe(join(d, 'l'), { ...STATE, maxBytes: 1e9 }), refused('ERR_STATE', /symbolic link/));
  chmodSync(f, 0o666);
  assert.throws(() => openAppendSafe(f, { ...STATE, maxBytes: 1e9 }), refused('ERR_STATE', /too open/));
});

test('removeTemps removes only our leftovers of that file', () => {
  const d = fresh();
  writeFileSync(join(d, '.doors.log.123.abcd.tmp'), '');
  writeFileSync(join(d, '.other.1.tmp'), '');
  writeFileSync(join(d, 'doors.log'), '');
  removeTemps(d, 'doors.log');
  assert.deepEqual(readdirSync(d).sort(), ['.other.1.tmp', 'doors.log']);
  assert.equal(existsSync(join(d, '.doors.log.123.abcd.tmp')), false);
});
