import { test } from 'node:test';
import assert from 'node:assert/strict';
import { chmodSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { createSocket } from 'node:dgram';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { keysMain } from '../../src/cli/keys.js';
import { keygenMain, spaMain, loadClientKeyFile } from '../../src/cli/spa-client.js';
import { knockMain } from '../../src/cli/knock.js';
import { clientKeyFromSeed, formatClientKey } from '../../src/core/keys/client.js';
import { loadKeyring } from '../../src/io/keystore.js';
import { ReplaySet } from '../../src/core/spa/replay.js';
import { SpaVerifier } from '../../src/core/spa/verify.js';
import { toB64 } from '../../src/core/keys/id.js';
import { vectorDoor } from '../vectors/gen-spa.js';

function env() {
  const root = mkdtempSync(join(tmpdir(), 'h4-cli-'));
  const keysDir = join(root, 'keys');
  mkdirSync(keysDir, { mode: 0o700 });
  const out: string[] = [], err: string[] = [];
  let notified = 0;
  const run = (...argv: string[]) => keysMain(argv, {
    keysDir, spaDoors: ['ssh', 'web'], out: (s) => out.push(s), err: (s) => err.push(s),
    notifyDaemon: () => { notified++; return undefined; }, now: () => Date.UTC(2026, 0, 1),
  });
  return { root, keysDir, out, err, run, notified: () => notified, all: () => out.join('') + err.join('') };
}

test('keygen writes a 0600 key, a 0600 key.enrol and a shareable key.pub; keys add takes the enrolment line, refuses key.pub', async () => {
  const e = env();
  try {
    const key = join(e.root, 'home', '.knock', 'key');
    const o: string[] = [];
    assert.equal(await keygenMain({ key, out: (s) => o.push(s) }), 0);
    assert.equal(statSync(key).mode & 0o777, 0o600);
    assert.match(readFileSync(key, 'utf8'), /^knockd-ts-key v2\n/);
    const shared = readFileSync(`${key}.pub`, 'utf8').trim();
    assert.match(shared, /^knock-ed25519-pub \S{44} \S+$/);
    const line = readFileSync(`${key}.enrol`, 'utf8').trim();
    assert.equal(statSync(`${key}.enrol`).mode & 0o777, 0o600);
    assert.match(line, /^knock-ed25519-v2 \S{44} \S{44} \S+$/);
    assert.ok(o.join('').includes(line), 'prints the enrolment line');
    const seed = readFileSync(key, 'utf8').match(/seed: (\S+)/)![1]!;
    assert.ok(!o.join('').includes(seed), 'never prints the seed');
    await assert.rejects(keygenMain({ key, out: () => {} }), (x: Error & { code?: string }) => x.code === 'ERR_KEY_EXISTS');
    const errs: string[] = [];
    assert.equal(await keygenMain({ key, out: () => {}, err: (s) => errs.push(s) }), 77);
    assert.match(errs.join(''), /already exists/);
    assert.equal(readFileSync(key, 'utf8').includes(seed), true, 'old key untouched');
    assert.equal(await keygenMain({ key, force: true, out: () => {} }), 0);
    assert.equal(readFileSync(key, 'utf8').includes(seed), false, '--force replaced it');
    const line2 = readFileSync(`${key}.enrol`, 'utf8').trim();

    assert.equal(await e.run('add', 'alice', '--pubkey-file', `${key}.pub`), 77, 'the shareable line cannot enrol');
    assert.match(e.err.join(''), /this is the shareable public line of a v2 key, which cannot be enrolled/);
    assert.equal(await e.run('add', 'alice', ...line2.split(' '), '--doors', 'ssh', '--from', '10.0.0.0/8', '--expires', '2026-06-30', '--max-ttl', '60'), 0, e.all());
    assert.equal(e.notified(), 1);
    assert.match(e.out.join(''), /no knockd is running: the change applies when it starts/);
    const k = loadKeyring(e.keysDir).keyring.byName('alice')!;
    assert.equal(k.id, loadClientKeyFile(key).id);
    assert.deepEqual(k.mac1Key, loadClientKeyFile(key).mac1Key, 'a v2 record: the enrolled mac1 key');
    assert.deepEqual(k.doors, ['ssh']);
    assert.equal(k.maxTtl, 60);
    assert.equal(k.expires, Date.UTC(2026, 5, 30));
    // same key under another name, existing name, bad input
    assert.equal(await e.run('add', 'alice2', '--pubkey-file', `${key}.enrol`), 77);
    assert.match(e.err.join(''), /already enrolled as 'alice'/);
    assert.equal(await e.run('add', 'alice', '--pubkey-file', `${key}.enrol`), 77);
    assert.equal(await e.run('add', 'x', '--pubkey-file', `${key}.enrol`, '--from', '10.0.0.1/8'), 64);
    assert.equal(await e.run('add', 'x'), 64);
    assert.equal(await e.run('add', 'bad/name', '--hmac'), 64);
    assert.equal(await e.run('bogus'), 64);
    // the client refuses a key file readable by others
    chmodSync(key, 0o644);
    assert.throws(() => loadClientKeyFile(key), new RegExp(`permissions 0644 for '${key}' are too open`));
  } finally { rmSync(e.root, { recursive: true, force: true }); }
});

test('keys add --hmac: secret goes only to the 0600 --out file, never to stdout/stderr; list/show/revoke', async () => {
  const e = env();
  try {
    const out = join(e.root, 'erin.knock-key');
    assert.equal(await e.run('add', 'erin', '--hmac', '--out', out, '--doors', 'web'), 0, e.all());
    assert.equal(statSync(out).mode & 0o777, 0o600);
    assert.equal(statSync(join(e.keysDir, 'erin.key')).mode & 0o777, 0o600);
    const secret = readFileSync(out, 'utf8').match(/secret: (\S+)/)![1]!;
    const rec = loadKeyring(e.keysDir).keyring.byName('erin')!;
    assert.equal(toB64(rec.secret!), secret);
    assert.equal(await e.run('add', 'erin2', '--hmac', '--out', out), 77, 'refuses to overwrite --out');
    assert.equal(loadKeyring(e.keysDir).keyring.byName('erin2'), undefined, 'nothing enrolled when --out exists');
    assert.equal(await e.run('add', 'frank', '--pubkey-file', join(e.root, 'nope.pub')), 77);
    assert.equal(await e.run('list'), 0);
    assert.equal(await e.run('show', 'erin'), 0);
    assert.match(e.out.join(''), /erin\s+hmac\s+[0-9a-f]{16}\s+v1,v2\s+active\s+web/);
    assert.match(e.out.join(''), /secret:\s+\(stored in the record, never shown\)/);
    assert.equal(await e.run('revoke', 'erin'), 0);
    assert.equal(await e.run('revoke', 'erin'), 0);
    assert.match(e.out.join(''), /already revoked/);
    assert.notEqual(loadKeyring(e.keysDir).keyring.byName('erin')?.revoked, undefined);
    assert.equal(await e.run('show', 'nobody'), 77);
    e.out.length = 0;
    assert.equal(await e.run('list'), 0);
    assert.match(e.out.join(''), /erin\s+hmac\s+[0-9a-f]{16}\s+v1,v2\s+revoked/);
    const text = e.all();
    assert.ok(!text.includes(secret), 'secret never printed');
    assert.ok(!text.includes(Buffer.from(secret, 'base64').toString('hex')), 'not even as hex');
    // enrol the secret from a client-generated hmac key file
    const ck = join(e.root, 'ck');
    assert.equal(await keygenMain({ key: ck, type: 'hmac', out: () => {} }), 0);
    assert.equal(await e.run('add', 'gina', '--hmac-key-file', ck), 0, e.all());
    assert.equal(loadKeyring(e.keysDir).keyring.byName('gina')?.id, loadClientKeyFile(ck).id);
  } finally { rmSync(e.root, { recursive: true, force: true }); }
});

test('knock --spa sends exactly one v2 datagram over loopback that the verifier authenticates (and refuses to open loopback)', async (t) => {
  const e = env();
  const sock = createSocket('udp4');
  try {
    const key = join(e.root, 'key');
    await keygenMain({ key, out: () => {} });
    assert.equal(await e.run('add', 'alice', '--pubkey-file', `${key}.enrol`), 0, e.all());
    await new Promise<void>((r) => sock.bind(0, '127.0.0.1', () => r()));
    const port = sock.address().port;
    const got: { msg: Buffer; src: string }[] = [];
    sock.on('message', (msg, rinfo) => got.push({ msg, src: rinfo.address }));
    const lines: string[] = [];
    const NOW = Date.UTC(2026, 0, 1);
    assert.equal(await spaMain({ key, host: '127.0.0.1', door: 'ssh', ttl: 30, spaPort: port, family: 4, verbose: true, out: (s) => lines.push(s), now: () => NOW }), 0);
    const deadline = Date.now() + 2000;
    while (got.length === 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
    await new Promise((r) => setTimeout(r, 50));
    assert.equal(got.length, 1);
    assert.match(lines.join(''), /SPA knock sent to 127\.0\.0\.1:\d+\/udp \(157 bytes\)[\s\S]*door ssh, ttl 30s[\s\S]*open for 127\.0\.0\.1[\s\S]*request v2/);
    assert.equal(got[0]!.msg[2], 2, 'a v2 key signs v2');
    const ver = new SpaVerifier(loadKeyring(e.keysDir).keyring, new ReplaySet(), {
      doors: [vectorDoor({ name: 'ssh', spa: true, cmdTimeout: 10 }, 0)], ownAddrs: () => ['127.0.0.1'], spaAddrs: [], windowMs: 60000,
    });
    const r = ver.check(new Uint8Array(got[0]!.msg), got[0]!.src, NOW + 5);
    // genuine (authenticated), but loopback is an address no door ever opens
    assert.deepEqual(r, { ok: false, reason: 'policy-address', authenticated: true, keyId: loadClientKeyFile(key).id, key: 'alice', detail: { address: '127.0.0.1', why: 'loopback' } });
    await assert.rejects(spaMain({ key, host: 'no-such-host.invalid', spaPort: port, out: () => {} }), (x: Error & { code?: string }) => x.code === 'ERR_RESOLVE');
    writeFileSync(join(e.root, 'loose'), readFileSync(key), { mode: 0o640 });
    chmodSync(join(e.root, 'loose'), 0o640);
    await assert.rejects(spaMain({ key: join(e.root, 'loose'), host: '127.0.0.1', spaPort: port, out: () => {} }), /permissions 0640 .* too open/);
    t.diagnostic(`datagram ${got[0]!.msg.length} bytes`);
  } finally {
    sock.close();
    rmSync(e.root, { recursive: true, force: true });
  }
});

test('knock --spa --nat: a v2 datagram with the signed nat flag, the server opens the source; v1 key files and --allow-ip refuse it', async () => {
  const e = env();
  const sock = createSocket('udp4');
  try {
    const key = join(e.root, 'key');
    await keygenMain({ key, out: () => {} });
    assert.equal(await e.run('add', 'alice', '--pubkey-file', `${key}.enrol`, '--doors', 'ssh', '--nat'), 0, e.all());
    await new Promise<void>((r) => sock.bind(0, '127.0.0.1', () => r()));
    const got: Buffer[] = [];
    sock.on('message', (msg) => got.push(msg));
    const NOW = Date.UTC(2026, 0, 1);
    const lines: string[] = [];
    assert.equal(await spaMain({ key, host: '127.0.0.1', spaPort: sock.address().port, family: 4, nat: true, verbose: true, out: (s) => lines.push(s), now: () => NOW }), 0);
    const deadline = Date.now() + 2000;
    while (got.length === 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
    assert.equal(got.length, 1);
    assert.equal(got[0]![2], 2, 'version 2');
    assert.equal(got[0]![40]! & 0x04, 0x04, 'nat flag');
    assert.match(lines.join(''), /open for the address the server sees \(--nat; local address 127\.0\.0\.1\)/);
    const ver = new SpaVerifier(loadKeyring(e.keysDir).keyring, new ReplaySet(), {
      doors: [vectorDoor({ name: 'ssh', spa: true, cmdTimeout: 10 }, 0)], ownAddrs: () => ['127.0.0.1'], spaAddrs: [], windowMs: 60000,
    });
    const r = ver.check(new Uint8Array(got[0]!), '127.0.0.1', NOW + 5);
    assert.deepEqual(!r.ok && [r.reason, r.authenticated, r.detail], ['policy-address', true, { address: '127.0.0.1', why: 'loopback' }], 'authenticated; the address judged is the packet source');
    // a key file made before v2 signs v1, which has no nat flag
    const old = join(e.root, 'old');
    writeFileSync(old, formatClientKey(clientKeyFromSeed(new Uint8Array(32).fill(5), 1)), { mode: 0o600 });
    await assert.rejects(spaMain({ key: old, host: '127.0.0.1', nat: true, out: () => {} }), (x: Error & { code?: string }) => x.code === 'ERR_USAGE' && /--nat needs a v2 key/.test(x.message));
    const errs: string[] = [];
    assert.equal(await knockMain(['--spa', '--nat', '--allow-ip', '192.0.2.1', '--key', key, '127.0.0.1'], { out: () => {}, err: (s) => errs.push(s) }), 64);
    assert.match(errs.join(''), /--nat .* excludes --allow-ip/);
    assert.equal(await knockMain(['--keygen', '--nat', '--key', join(e.root, 'k2')], { out: () => {}, err: (s) => errs.push(s) }), 64);
  } finally {
    sock.close();
    rmSync(e.root, { recursive: true, force: true });
  }
});
