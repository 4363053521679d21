/**
 * `knockd keys` lifecycle (issue 12.3, 9.4, 10.6, 11.5): set / revoke / unrevoke / remove,
 * door names checked against the configuration, one time syntax, every change audited with who
 * ran it, the daemon's acknowledgement awaited, control characters refused, root administering
 * a KeysDir owned by the service user.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { chmodSync, chownSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir, userInfo } from 'node:os';
import { join } from 'node:path';
import { auditMain } from '../../src/cli/audit.js';
import { keysMain, type KeysOpts } from '../../src/cli/keys.js';
import { formatEnrolLine, formatPublicLine } from '../../src/core/keys/client.js';
import { loadKeyring } from '../../src/io/keystore.js';
import { fakeDaemon, type FakeDaemon } from '../helpers/fake-daemon.js';
import { testKey } from '../helpers/keys.js';

const NOW = Date.UTC(2026, 0, 1);
const DAY = 86_400_000;

function env(extra: Partial<KeysOpts> = {}, behaviour?: 'ack' | 'silent' | 'old-revision') {
  const root = mkdtempSync(join(tmpdir(), 'h4-life-'));
  chmodSync(root, 0o700);
  const keysDir = join(root, 'keys'), stateDir = join(root, 'state'), logDir = join(root, 'log');
  for (const d of [keysDir, stateDir, logDir]) mkdirSync(d, { mode: 0o700 });
  const auditLog = join(logDir, 'audit.log');
  const out: string[] = [], err: string[] = [];
  const daemon: FakeDaemon | undefined = behaviour ? fakeDaemon(keysDir, stateDir, behaviour) : undefined;
  const run = (...argv: string[]) => {
    out.length = 0; err.length = 0;
    return keysMain(argv, {
      keysDir, stateDir, auditLog, spaDoors: ['ssh', 'web'], out: (s) => out.push(s), err: (s) => err.push(s),
      now: () => NOW, ackTimeoutMs: 400, ...(daemon ? { notifyDaemon: daemon.notify } : {}), ...extra,
    });
  };
  const audit = () => existsSync(auditLog) ? readFileSync(auditLog, 'utf8').trim().split('\n').filter(Boolean).map((l) => JSON.parse(l) as Record<string, unknown>) : [];
  const rec = (name: string) => loadKeyring(keysDir).keyring.byName(name);
  return { root, keysDir, stateDir, auditLog, out, err, run, audit, rec, daemon, all: () => out.join('') + err.join('') };
}
const enrol = (label: string) => { const k = testKey(label); return formatEnrolLine(k.publicKey!, k.mac1Key!, `${label}@laptop`); };

test('door names are checked against the configuration\'s SPA doors; one time syntax; a past --expires is refused', async () => {
  const e = env();
  try {
    assert.equal(await e.run('add', 'alice', enrol('alice'), '--doors', 'sshh'), 64);
    assert.match(e.err.join(''), /--doors: 'sshh' is not an SPA door of the configuration; SPA doors: ssh, web/);
    assert.equal(await e.run('add', 'alice', enrol('alice'), '--doors', 'openSSH'), 64, 'a classic door is not an SPA door');
    assert.equal(await e.run('add', 'alice', enrol('alice'), '--expires', '2020-01-01'), 64);
    assert.match(e.err.join(''), /--expires '2020-01-01' is not in the future \(2020-01-01T00:00:00\.000Z\)/);
    assert.equal(await e.run('add', 'alice', enrol('alice'), '--expires', 'soon'), 64);
    assert.equal(e.rec('alice'), undefined, 'nothing was enrolled by the refused commands');
    assert.equal(await e.run('add', 'alice', enrol('alice'), '--doors', 'ssh', '--expires', '1w', '--max-ttl', '1h'), 0, e.all());
    assert.equal(e.rec('alice')?.expires, NOW + 7 * DAY);
    assert.equal(e.rec('alice')?.maxTtl, 3600);
    assert.equal(await e.run('add', 'bob', enrol('bob'), '--max-ttl', '90'), 0, e.all());
    assert.equal(e.rec('bob')?.maxTtl, 90, 'plain seconds still work');
    assert.equal(await e.run('add', 'carl', enrol('carl'), '--max-ttl', '1.5h'), 64);
  } finally { rmSync(e.root, { recursive: true, force: true }); }
});

test('keys set changes doors, networks, expiry, max ttl, nat and comment; each change is audited with who ran it', async () => {
  const e = env();
  try {
    assert.equal(await e.run('add', 'alice', enrol('alice'), '--doors', 'ssh'), 0, e.all());
    assert.equal(await e.run('set', 'alice', '--doors', 'ssh,web', '--from', '10.0.0.0/8', '--expires', '30d', '--max-ttl', '15m', '--nat', '--comment', 'laptop'), 0, e.all());
    let r = e.rec('alice')!;
    assert.deepEqual([r.doors, r.from.map((c) => c.text), r.expires, r.maxTtl, r.nat, r.comment], [['ssh', 'web'], ['10.0.0.0/8'], NOW + 30 * DAY, 900, true, 'laptop']);
    assert.equal(await e.run('set', 'alice', '--doors', '*', '--from', '*', '--expires', 'never', '--max-ttl', 'default', '--no-nat'), 0, e.all());
    r = e.rec('alice')!;
    assert.deepEqual([r.doors, r.from, r.expires, r.maxTtl, r.nat], [[], [], undefined, undefined, undefined]);
    assert.equal(await e.run('set', 'alice', '--doors', '*'), 0);
    assert.match(e.out.join(''), /already has these settings: nothing changed/);
    assert.equal(await e.run('set', 'alice'), 64, 'set needs an option');
    assert.equal(await e.run('set', 'nobody', '--nat'), 77);
    assert.equal(await e.run('set', 'alice', '--doors', 'sshh'), 64);

    const recs = e.audit();
    assert.deepEqual(recs.map((x) => x.event), ['key.add', 'key.set', 'key.set']);
    const me = { user: userInfo().username, uid: process.geteuid!() };
    for (const x of recs) {
      assert.equal(typeof x.time, 'number');
      assert.equal(x.key, 'alice');
      assert.equal(x.keyId, testKey('alice').id);
      assert.deepEqual({ user: (x.by as { user: string }).user, uid: (x.by as { uid: number }).uid }, me);
    }
    assert.deepEqual(recs[0]!.fields, { type: 'ed25519', version: 'v2', doors: ['ssh'], from: [], expires: null, maxTtl: null, nat: false, comment: 'alice@laptop' });
    assert.deepEqual(recs[1]!.fields, { doors: ['ssh', 'web'], from: ['10.0.0.0/8'], expires: NOW + 30 * DAY, maxTtl: 900, nat: true, comment: 'laptop' });
    assert.deepEqual(recs[1]!.previous, { doors: ['ssh'], from: [], expires: null, maxTtl: null, nat: false, comment: 'alice@laptop' });
    assert.ok(!JSON.stringify(recs).includes(Buffer.from(testKey('alice').mac1Key!).toString('base64')), 'no key material in the audit log');
    const shown: string[] = [];
    assert.equal(await auditMain(['--key', 'alice'], { auditLog: e.auditLog, out: (x) => shown.push(x), err: (x) => shown.push(x), now: () => NOW + 1000 }), 0);
    assert.match(shown.join(''), new RegExp(`key changes: 3\\n[\\s\\S]*key\\.set +alice +${me.user} \\(uid ${me.uid}`), 'knockd audit shows who changed the key');
  } finally { rmSync(e.root, { recursive: true, force: true }); }
});

test('a v1 line enrols a v1 record (with a note); --nat is refused for it, since v1 requests carry no nat flag', async () => {
  const e = env();
  try {
    const v1 = formatPublicLine(testKey('old', 1).publicKey!, 'old@box');
    assert.equal(await e.run('add', 'old', v1, '--nat'), 64);
    assert.match(e.err.join(''), /--nat: 'old' was enrolled from a v1 line/);
    assert.equal(await e.run('add', 'old', v1), 0, e.all());
    assert.match(e.err.join(''), /note: 'old' was enrolled from a v1 line: it accepts v1 requests/);
    assert.equal(e.rec('old')?.mac1Key, undefined);
    assert.equal(await e.run('set', 'old', '--nat'), 64);
    assert.equal(await e.run('show', 'old'), 0);
    assert.match(e.out.join(''), /requests: v1\npublic:   knock-ed25519 \S+ old@box/);
  } finally { rmSync(e.root, { recursive: true, force: true }); }
});

test('revoke, unrevoke, remove; a revoked name cannot be re-added (the error says what to do)', async () => {
  const e = env();
  try {
    assert.equal(await e.run('add', 'bob', enrol('bob')), 0, e.all());
    assert.equal(await e.run('revoke', 'bob'), 0);
    assert.equal(e.rec('bob')?.revoked, NOW);
    assert.equal(await e.run('add', 'bob', enrol('bob2')), 77);
    assert.match(e.err.join(''), /key 'bob' already exists .*\(revoked 2026-01-01T00:00:00\.000Z; 'knockd keys unrevoke bob' re-enables that key\); 'knockd keys remove bob' first/);
    assert.equal(await e.run('unrevoke', 'bob'), 0);
    assert.equal(e.rec('bob')?.revoked, undefined);
    assert.equal(await e.run('unrevoke', 'bob'), 0);
    assert.match(e.out.join(''), /is not revoked/);
    assert.equal(await e.run('remove', 'bob'), 0);
    assert.equal(e.rec('bob'), undefined);
    assert.equal(await e.run('remove', 'bob'), 77);
    assert.equal(await e.run('add', 'bob', enrol('bob2')), 0, 'the name is free again');
    assert.deepEqual(e.audit().map((x) => `${x.event}:${x.keyId}`), [
      `key.add:${testKey('bob').id}`, `key.revoke:${testKey('bob').id}`, `key.unrevoke:${testKey('bob').id}`,
      `key.remove:${testKey('bob').id}`, `key.add:${testKey('bob2').id}`]);
  } finally { rmSync(e.root, { recursive: true, force: true }); }
});

test('no change without its audit record: an audit log that cannot be trusted refuses the change', async () => {
  const e = env();
  try {
    writeFileSync(join(e.root, 'elsewhere'), '');
    symlinkSync(join(e.root, 'elsewhere'), e.auditLog);
    assert.equal(await e.run('add', 'alice', enrol('alice')), 1);
    assert.match(e.err.join(''), /audit\.log' is a symbolic link; refusing to follow it; nothing was changed \(every key change is audited\) \[ERR_STATE\]/);
    assert.equal(e.rec('alice'), undefined);
  } finally { rmSync(e.root, { recursive: true, force: true }); }
});

test('a key enrolled before the first start creates the missing audit log directory for the KeysDir owner', async () => {
  const e = env();
  try {
    rmSync(join(e.root, 'log'), { recursive: true });
    const root = process.geteuid?.() === 0;
    if (root) chownSync(e.keysDir, 65534, 65534);   // KeysDir of a service user, administered by root
    assert.equal(await e.run('add', 'alice', enrol('alice')), 0, e.all());
    const st = statSync(join(e.root, 'log'));
    assert.equal(st.mode & 0o777, 0o750);
    if (root) assert.deepEqual([st.uid, statSync(e.auditLog).uid, statSync(join(e.keysDir, 'alice.key')).uid], [65534, 65534, 65534], 'all owned by the service user');
    assert.deepEqual(e.audit().map((x) => x.event), ['key.add']);
    rmSync(join(e.root, 'log'), { recursive: true });
    assert.equal(await e.run('add', 'bob', enrol('bob'), '--comment', 'x'), 0, 'created again');
    const deep = env({ auditLog: join(tmpdir(), `kts-no-such-${process.pid}`, 'a', 'audit.log') });
    try {
      assert.equal(await deep.run('add', 'carl', enrol('carl')), 1, 'only the last directory is created');
      assert.match(deep.err.join(''), /audit log directory '.*kts-no-such-\d+\/a' is missing and cannot be created \(ENOENT\); nothing was changed/);
      assert.equal(deep.rec('carl'), undefined);
    } finally { rmSync(deep.root, { recursive: true, force: true }); }
  } finally { rmSync(e.root, { recursive: true, force: true }); }
});

test('control characters are refused in names and comments and never printed raw', async () => {
  const e = env();
  try {
    const osc = '\x1b]52;c;cGF5bG9hZA==\x07';
    const k = testKey('eve');
    assert.equal(await e.run('add', 'eve', formatPublicLine(k.publicKey!, 'x') + osc), 77);
    assert.match(e.err.join(''), /the comment holds a control character \(\\x1b\)/);
    assert.equal(await e.run('add', 'eve', enrol('eve'), '--comment', `hi${osc}`), 64);
    assert.equal(await e.run('add', `eve${osc}`, enrol('eve')), 64);
    assert.ok(!e.all().includes('\x1b'), 'no raw ESC in any output');
    assert.equal(await e.run('add', 'eve', enrol('eve'), '--comment', 'plain'), 0);
    assert.equal(await e.run('set', 'eve', '--comment', `x\u202ey`), 64);
    assert.match(e.err.join(''), /--comment holds a control character \(\\u202e\)/);
  } finally { rmSync(e.root, { recursive: true, force: true }); }
});

test('the running daemon must acknowledge the change: applied → 0; silent or stale → non-zero with one line', async () => {
  const e = env({}, 'ack');
  try {
    assert.equal(await e.run('add', 'alice', enrol('alice')), 0, e.all());
    assert.equal(e.daemon!.signals(), 1);
    assert.match(e.out.join(''), new RegExp(`knockd \\(pid ${process.pid}\\) applied it: 1 key\\(s\\) in force`));
    writeFileSync(join(e.keysDir, 'README'), 'x', { mode: 0o600 });
    assert.equal(await e.run('revoke', 'alice'), 0, e.all());
    assert.match(e.err.join(''), /warning: knockd refused: .*README: unexpected file in the key directory/);
    e.daemon!.behaviour = 'silent';
    const t0 = Date.now();
    assert.equal(await e.run('unrevoke', 'alice'), 75);
    assert.ok(Date.now() - t0 >= 400, 'waited the whole timeout');
    const msg = e.err.join('').split('\n').filter((l) => l.startsWith('knockd keys:'));
    assert.equal(msg.length, 1);
    assert.match(msg[0]!, new RegExp(`knockd \\(pid ${process.pid}\\) has not applied key directory revision [0-9a-f]{12} within 400 ms; it last applied revision [0-9a-f]{12} at .*NOT in force.*\\[ERR_DAEMON\\]`));
    e.daemon!.behaviour = 'old-revision';
    assert.equal(await e.run('revoke', 'alice'), 75, 'an acknowledgement of another revision does not count');
  } finally { rmSync(e.root, { recursive: true, force: true }); }
});

test('no daemon running: the change is made and the command says so (exit 0)', async () => {
  const e = env({ notifyDaemon: () => undefined });
  try {
    assert.equal(await e.run('add', 'alice', enrol('alice')), 0, e.all());
    assert.match(e.out.join(''), /no knockd is running: the change applies when it starts/);
  } finally { rmSync(e.root, { recursive: true, force: true }); }
});

test('root administers a KeysDir, StateDir and log directory owned by the service user; records keep that owner', { skip: process.geteuid?.() !== 0 ? 'needs root to chown' : undefined }, async () => {
  const e = env({}, 'ack');
  try {
    for (const d of [e.keysDir, e.stateDir, join(e.root, 'log')]) chownSync(d, 4010, 4010);
    assert.equal(await e.run('add', 'alice', enrol('alice'), '--doors', 'ssh'), 0, e.all());
    const st = statSync(join(e.keysDir, 'alice.key'));
    assert.deepEqual([st.uid, st.gid, st.mode & 0o777], [4010, 4010, 0o600]);
    assert.deepEqual([statSync(e.auditLog).uid, statSync(e.auditLog).mode & 0o777], [4010, 0o640], 'the audit log root created belongs to the service user');
    for (const argv of [['list'], ['show', 'alice'], ['set', 'alice', '--doors', 'web'], ['revoke', 'alice'], ['unrevoke', 'alice'], ['remove', 'alice']]) {
      assert.equal(await e.run(...argv), 0, `${argv.join(' ')}: ${e.all()}`);
      if (argv[0] === 'set') assert.equal(statSync(join(e.keysDir, 'alice.key')).uid, 4010, 'a rewritten record keeps the owner');
    }
    assert.equal(e.audit().length, 5);
    // the daemon (strict trust, running as root) would refuse that directory: only root's tools may use admin trust
    assert.throws(() => loadKeyring(e.keysDir), /owned by uid 4010, not root/);
  } finally { rmSync(e.root, { recursive: true, force: true }); }
});
