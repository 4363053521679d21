import { test } from 'node:test';
import assert from 'node:assert/strict';
import { appendFileSync, chmodSync, chownSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { repoRoot } from '../helpers/paths.js';
import { ReplayStore } from '../../src/io/replay-store.js';
import { SpaVerifier } from '../../src/core/spa/verify.js';
import { vectorSetup, type SpaVectorFile } from '../vectors/gen-spa.js';

/** A replay id: key id from n, request timestamp ts (bytes 8..16), nonce byte. */
const id = (n: number, ts = 0) => {
  const b = new Uint8Array(32);
  b[0] = n >> 8; b[1] = n & 0xff; b[31] = 0xaa;
  new DataView(b.buffer).setBigUint64(8, BigInt(ts));
  return b;
};
const tmp = () => { const d = mkdtempSync(join(tmpdir(), 'h4-replay-')); chmodSync(d, 0o700); return d; };
const code = (c: string, re: RegExp) => (e: unknown) => (e as { code?: string }).code === c && re.test((e as Error).message);

test('add is durable: reopen sees the records; file is 0600; expired records are dropped on open', () => {
  const dir = tmp();
  try {
    const s = ReplayStore.open(dir, { windowMs: 500, now: () => 1000 });
    assert.equal(s.add(id(1, 1000), 5000), 'added');
    assert.equal(s.add(id(2, 1000), 1500), 'added');
    assert.equal(s.has(id(1, 1000)), true);
    s.close();
    assert.equal(statSync(join(dir, 'replay.log')).mode & 0o777, 0o600);
    assert.equal(readFileSync(join(dir, 'replay.log'), 'utf8').trim().split('\n').length, 2);
    const r = ReplayStore.open(dir, { windowMs: 500, now: () => 2000 });
    assert.equal(r.has(id(1, 1000)), true);
    assert.equal(r.has(id(2, 1000)), false, 'expired at 1500');
    assert.equal(r.size, 1);
    r.close();
  } finally { rmSync(dir, { recursive: true, force: true }); }
});

test('bounded: full → add says full until prune frees room; file is compacted', () => {
  const dir = tmp();
  try {
    const s = ReplayStore.open(dir, { windowMs: 1, maxEntries: 3, perKeyMax: 3, now: () => 0 });
    assert.equal(s.add(id(1), 10), 'added');
    assert.equal(s.add(id(2), 10), 'added');
    assert.equal(s.add(id(3), 100), 'added');
    assert.equal(s.add(id(4), 100), 'full');
    s.prune(50);
    assert.equal(s.add(id(4), 100), 'added');
    assert.equal(s.size, 2);
    s.close();
    const big = ReplayStore.open(dir, { windowMs: 1, maxEntries: 10_000, now: () => 0 });
    for (let i = 0; i < 3000; i++) { assert.equal(big.add(id(100 + i), 10), 'added'); big.prune(11); }
    assert.ok(big.fileRecords <= 2 * Math.max(1024, big.size) + 1, `file records ${big.fileRecords}`);
    big.close();
    const lines = readFileSync(join(dir, 'replay.log'), 'utf8').trim().split('\n').length;
    assert.ok(lines <= 2049, `${lines} lines on disk`);
  } finally { rmSync(dir, { recursive: true, force: true }); }
});

test('one key holds at most its share (1/16 by default): another key is never refused because of it', () => {
  const dir = tmp();
  try {
    const s = ReplayStore.open(dir, { windowMs: 1, maxEntries: 160, now: () => 0 });
    const keyA = (i: number) => { const b = id(7); b[20] = i; b[21] = i >> 8; return b; };   // one key id, many nonces
    let added = 0;
    for (let i = 0; i < 100; i++) if (s.add(keyA(i), 1000) === 'added') added++;
    assert.equal(added, 10, '160 / 16');
    assert.equal(s.add(keyA(500), 1000), 'key-full');
    assert.equal(s.countFor('0007000000000000'), 10);
    for (let k = 0; k < 20; k++) assert.equal(s.add(id(1000 + k), 1000), 'added', `key ${k}`);
    s.prune(2000);
    assert.equal(s.add(keyA(500), 3000), 'added', 'the share frees up as records expire');
    s.close();
  } finally { rmSync(dir, { recursive: true, force: true }); }
});

test('torn final line is ignored; corruption elsewhere and loose permissions are refused', () => {
  const dir = tmp();
  try {
    const s = ReplayStore.open(dir, { windowMs: 1, now: () => 0 });
    s.add(id(1), 100); s.close();
    appendFileSync(join(dir, 'replay.log'), 'abcdef');
    const r = ReplayStore.open(dir, { windowMs: 1, now: () => 0 });
    assert.equal(r.has(id(1)), true);
    r.close();
    writeFileSync(join(dir, 'replay.log'), 'garbage\n' + `${'00'.repeat(32)} 100\n`, { mode: 0o600 });
    assert.throws(() => ReplayStore.open(dir, { windowMs: 1, now: () => 0 }), code('ERR_STATE', /replay\.log:1/));
    writeFileSync(join(dir, 'replay.log'), '');
    chmodSync(join(dir, 'replay.log'), 0o666);
    assert.throws(() => ReplayStore.open(dir, { windowMs: 1, now: () => 0 }), code('ERR_STATE', new RegExp(`permissions 0666 for '${dir}/replay\\.log' are too open`)));
    writeFileSync(join(dir, 'replay.window'), '{"format":"something else"}', { mode: 0o600 });
    chmodSync(join(dir, 'replay.log'), 0o600);
    assert.throws(() => ReplayStore.open(dir, { windowMs: 1, now: () => 0 }), code('ERR_STATE', /replay\.window' is not a knockd-ts\/replay-window version 1 document/));
  } finally { rmSync(dir, { recursive: true, force: true }); }
});

test('StateDir trust: a symlinked or group-writable replay.log, a symlinked or untrusted StateDir are refused, naming the path', () => {
  const dir = tmp();
  try {
    const victim = join(dir, 'victim');
    writeFileSync(victim, 'precious\n', { mode: 0o600 });
    const state = join(dir, 'state');
    mkdirSync(state, { mode: 0o700 });
    symlinkSync(victim, join(state, 'replay.log'));
    assert.throws(() => ReplayStore.open(state, { windowMs: 1, now: () => 0 }), code('ERR_STATE', new RegExp(`'${state}/replay\\.log' is a symbolic link`)));
    assert.equal(readFileSync(victim, 'utf8'), 'precious\n', 'the link target is untouched');
    rmSync(join(state, 'replay.log'));
    chmodSync(state, 0o770);
    assert.throws(() => ReplayStore.open(state, { windowMs: 1, now: () => 0 }), code('ERR_STATE', new RegExp(`state directory '${state}' is writable by group/other`)));
    chmodSync(state, 0o700);
    symlinkSync(state, join(dir, 'state-link'));
    assert.throws(() => ReplayStore.open(join(dir, 'state-link'), { windowMs: 1, now: () => 0 }), code('ERR_STATE', /state-link' is a symbolic link/));
    if (process.geteuid?.() === 0) {
      chownSync(state, 4321, 4321);
      assert.throws(() => ReplayStore.open(state, { windowMs: 1, now: () => 0 }), code('ERR_STATE', new RegExp(`state directory '${state}' is owned by uid 4321, not root`)));
      chownSync(state, 0, 0);
      writeFileSync(join(state, 'replay.log'), '', { mode: 0o600 });
      chownSync(join(state, 'replay.log'), 4321, 4321);
      assert.throws(() => ReplayStore.open(state, { windowMs: 1, now: () => 0 }), code('ERR_STATE', /replay\.log' is owned by uid 4321/));
    }
  } finally { rmSync(dir, { recursive: true, force: true }); }
});

test('a knock accepted before a daemon restart is rejected as replayed after it', () => {
  const file = JSON.parse(readFileSync(join(repoRoot, 'test', 'vectors', 'spa.json'), 'utf8')) as SpaVectorFile;
  const v = file.vectors.find((x) => x.name === 'valid-ed25519-v4')!;
  const pkt = new Uint8Array(Buffer.from(v.packet, 'hex'));
  const dir = tmp();
  try {
    const { keyring, ctx } = vectorSetup(file);
    const s1 = ReplayStore.open(dir, { windowMs: ctx.windowMs, now: () => file.now - 10_000 });
    const r1 = new SpaVerifier(keyring, s1, { ...ctx, notBeforeMs: s1.floorMs }).check(pkt, v.src, file.now);
    assert.equal(r1.ok, true, JSON.stringify(r1));
    s1.close();
    const s2 = ReplayStore.open(dir, { windowMs: ctx.windowMs, now: () => file.now + 1000 });
    const r2 = new SpaVerifier(keyring, s2, { ...ctx, notBeforeMs: s2.floorMs }).check(pkt, v.src, file.now + 1000);
    assert.deepEqual(r2.ok ? 'granted' : r2.reason, 'replayed');
    s2.close();
  } finally { rmSync(dir, { recursive: true, force: true }); }
});
