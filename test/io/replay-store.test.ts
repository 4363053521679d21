import { test } from 'node:test';
import assert from 'node:assert/strict';
import { appendFileSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync, chmodSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { readFileSync as rf } from 'node:fs';
import { repoRoot } from '../helpers/paths.js';
import { ReplayStore } from '../../src/io/replay-store.js';
import { SpaVerifier } from '../../src/core/spa/verify.js';
import { vectorSetup, type SpaVectorFile } from '../vectors/gen-spa.js';

const id = (n: number) => { const b = new Uint8Array(32); b[0] = n >> 8; b[1] = n & 0xff; b[31] = 0xaa; return b; };
const tmp = () => mkdtempSync(join(tmpdir(), 'h4-replay-'));

test('add is durable: reopen sees the records; file is 0600; expired records are dropped on open', () => {
  const dir = tmp();
  try {
    const s = ReplayStore.open(dir, { now: () => 1000 });
    assert.equal(s.add(id(1), 5000), true);
    assert.equal(s.add(id(2), 1500), true);
    assert.equal(s.has(id(1)), true);
    s.close();
    assert.equal(statSync(join(dir, 'replay.log')).mode & 0o777, 0o600);
    assert.equal(readFileSync(join(dir, 'replay.log'), 'utf8').trim().split('\n').length, 2);
    const r = ReplayStore.open(dir, { now: () => 2000 });
    assert.equal(r.has(id(1)), true);
    assert.equal(r.has(id(2)), false, 'expired at 1500');
    assert.equal(r.size, 1);
    r.close();
  } finally { rmSync(dir, { recursive: true, force: true }); }
});

test('bounded: full → add returns false until prune frees room; file is compacted', () => {
  const dir = tmp();
  try {
    const s = ReplayStore.open(dir, { maxEntries: 3, now: () => 0 });
    assert.equal(s.add(id(1), 10), true);
    assert.equal(s.add(id(2), 10), true);
    assert.equal(s.add(id(3), 100), true);
    assert.equal(s.add(id(4), 100), false);
    s.prune(50);
    assert.equal(s.add(id(4), 100), true);
    assert.equal(s.size, 2);
    s.close();
    const big = ReplayStore.open(dir, { maxEntries: 10_000, now: () => 0 });
    for (let i = 0; i < 3000; i++) { assert.equal(big.add(id(100 + i), 10), true); big.prune(11); }
    assert.ok(big.fileRecords <= 2 * Math.max(1024, big.size) + 1, `file records ${big.fileRecords}`);
    big.close();
    const lines = readFileSync(join(dir, 'replay.log'), 'utf8').trim().split('\n').length;
    assert.ok(lines <= 2049, `${lines} lines on disk`);
  } finally { rmSync(dir, { recursive: true, force: true }); }
});

test('torn final line is ignored; corruption elsewhere and loose permissions are refused', () => {
  const dir = tmp();
  try {
    const s = ReplayStore.open(dir, { now: () => 0 });
    s.add(id(1), 100); s.close();
    appendFileSync(join(dir, 'replay.log'), 'abcdef');
    const r = ReplayStore.open(dir, { now: () => 0 });
    assert.equal(r.has(id(1)), true);
    r.close();
    writeFileSync(join(dir, 'replay.log'), 'garbage\n' + `${'00'.repeat(32)} 100\n`, { mode: 0o600 });
    assert.throws(() => ReplayStore.open(dir, { now: () => 0 }), (e: Error & { code?: string }) => e.code === 'ERR_STATE' && /replay\.log:1/.test(e.message));
    writeFileSync(join(dir, 'replay.log'), '');
    chmodSync(join(dir, 'replay.log'), 0o666);
    assert.throws(() => ReplayStore.open(dir, { now: () => 0 }), /writable by group\/other/);
  } finally { rmSync(dir, { recursive: true, force: true }); }
});

test('a knock accepted before a daemon restart is rejected as replayed after it', () => {
  const file = JSON.parse(rf(join(repoRoot, 'test', 'vectors', 'spa.json'), 'utf8')) as SpaVectorFile;
  const v = file.vectors.find((x) => x.name === 'valid-ed25519-v4')!;
  const pkt = new Uint8Array(Buffer.from(v.packet, 'hex'));
  const dir = tmp();
  try {
    const { keyring, ctx } = vectorSetup(file);
    const s1 = ReplayStore.open(dir, { now: () => file.now });
    const r1 = new SpaVerifier(keyring, s1, ctx).check(pkt, v.src, file.now);
    assert.equal(r1.ok, true);
    s1.close();
    const s2 = ReplayStore.open(dir, { now: () => file.now + 1000 });
    const r2 = new SpaVerifier(keyring, s2, ctx).check(pkt, v.src, file.now + 1000);
    assert.deepEqual(r2.ok ? 'granted' : r2.reason, 'replayed');
    s2.close();
  } finally { rmSync(dir, { recursive: true, force: true }); }
});
