/**
 * PROTOCOL.md §4: raising SPAWindow (SIGHUP or restart) never revives a request whose replay
 * record was pruned under the smaller window. Injected clock, real ReplayStore files, the real
 * verifier with the vector keys.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { chmodSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { repoRoot } from '../helpers/paths.js';
import { parseIp, type Ip } from '../../src/core/ip.js';
import { ed25519Signer } from '../../src/core/spa/sign.js';
import { SpaVerifier, type SpaContext } from '../../src/core/spa/verify.js';
import { encodeRequest } from '../../src/core/spa/wire.js';
import { ReplayStore } from '../../src/io/replay-store.js';
import { vectorSetup, type SpaVectorFile } from '../vectors/gen-spa.js';

const file = JSON.parse(readFileSync(join(repoRoot, 'test', 'vectors', 'spa.json'), 'utf8')) as SpaVectorFile;
const T0 = file.now;
const alice = ed25519Signer(new Uint8Array(Buffer.from(file.keys.find((k) => k.name === 'alice')!.seed!, 'hex')));
const tmp = () => { const d = mkdtempSync(join(tmpdir(), 'h4-window-')); chmodSync(d, 0o700); return d; };
const SRC = '203.0.113.5';
let n = 0;
const knock = (ts: number) => encodeRequest({
  timestampMs: ts, nonce: new Uint8Array(createHash('sha256').update(`w${n++}`).digest().subarray(0, 16)), ttl: 0,
  allowIp: parseIp(SRC) as Ip, serverIp: parseIp('192.0.2.1') as Ip, door: 'ssh',
}, alice);
const outcome = (r: ReturnType<SpaVerifier['check']>) => (r.ok ? 'granted' : r.reason);
/** The context the daemon builds from the store (src/daemon/daemon.ts spaContext). */
const ctxFor = (base: SpaContext, s: ReplayStore, windowMs: number): SpaContext =>
  ({ ...base, windowMs, maxWindowMs: s.maxWindowMs, notBeforeMs: s.floorMs });

test('first start without history: requests signed before the start are stale', () => {
  const dir = tmp();
  try {
    const { keyring, ctx } = vectorSetup(file);
    const s = ReplayStore.open(dir, { windowMs: 60_000, now: () => T0 });
    assert.deepEqual(s.window, { maxWindowMs: 60_000, floorMs: T0 });
    const ver = new SpaVerifier(keyring, s, ctxFor(ctx, s, 60_000));
    const r = ver.check(knock(T0 - 1000), SRC, T0 + 10);
    assert.equal(outcome(r), 'stale');
    assert.deepEqual(!r.ok && r.detail, { clockDiffMs: -1010, windowMs: 60_000, notBeforeMs: T0 }, 'the floor is named');
    assert.equal(outcome(ver.check(knock(T0 + 1), SRC, T0 + 10)), 'granted');
    s.close();
  } finally { rmSync(dir, { recursive: true, force: true }); }
});

test('SIGHUP raise 3 s → 600 s: a knock whose record was pruned stays stale; a recorded one stays recorded', () => {
  const dir = tmp();
  try {
    const { keyring, ctx } = vectorSetup(file);
    const t0 = T0;
    const s = ReplayStore.open(dir, { windowMs: 3000, now: () => t0 - 10_000 });
    const ver = new SpaVerifier(keyring, s, ctxFor(ctx, s, 3000));
    const k1 = knock(t0 + 100), k2 = knock(t0 + 2500);
    assert.equal(outcome(ver.check(k1, SRC, t0 + 200)), 'granted');
    assert.equal(outcome(ver.check(k2, SRC, t0 + 2600)), 'granted');
    s.prune(t0 + 5000);                                  // the daemon's periodic prune: k1's record (t0+3100) is gone
    assert.equal(s.size, 1);
    const ws = s.setWindow(600_000, t0 + 5000);          // SIGHUP with SPAWindow = 600
    assert.deepEqual(ws, { maxWindowMs: 600_000, floorMs: t0 + 2000 });
    ver.setContext(ctxFor(ctx, s, 600_000));
    assert.equal(outcome(ver.check(k1, SRC, t0 + 5001)), 'stale', 'signed before T - old window');
    s.prune(t0 + 6000);
    assert.equal(outcome(ver.check(k2, SRC, t0 + 6000)), 'replayed', 'its record now lives until timestamp + 600 s');
    // control: what f6ae24a did (the in-process largest window, no floor) grants k1 again
    const old = new SpaVerifier(keyring, s, { ...ctx, windowMs: 600_000 });
    assert.equal(outcome(old.check(k1, SRC, t0 + 5002)), 'granted', 'without the floor the raise revives k1');
    s.close();
    const persisted = JSON.parse(readFileSync(join(dir, 'replay.window'), 'utf8')) as Record<string, unknown>;
    assert.deepEqual(persisted, { format: 'knockd-ts/replay-window', version: 1, maxWindowMs: 600_000, floorMs: t0 + 2000 });
  } finally { rmSync(dir, { recursive: true, force: true }); }
});

test('restart with a raised window: the floor moves, kept records are extended; lowering keeps the largest window', () => {
  const dir = tmp();
  try {
    const { keyring, ctx } = vectorSetup(file);
    const t0 = T0;
    const s1 = ReplayStore.open(dir, { windowMs: 3000, now: () => t0 - 10_000 });
    const v1 = new SpaVerifier(keyring, s1, ctxFor(ctx, s1, 3000));
    const k1 = knock(t0 + 100), k2 = knock(t0 + 2500);
    assert.equal(outcome(v1.check(k1, SRC, t0 + 200)), 'granted');
    assert.equal(outcome(v1.check(k2, SRC, t0 + 2600)), 'granted');
    s1.close();

    const s2 = ReplayStore.open(dir, { windowMs: 600_000, now: () => t0 + 5000 });
    assert.deepEqual(s2.window, { maxWindowMs: 600_000, floorMs: t0 + 2000 });
    const v2 = new SpaVerifier(keyring, s2, ctxFor(ctx, s2, 600_000));
    assert.equal(outcome(v2.check(k1, SRC, t0 + 5001)), 'stale');
    assert.equal(outcome(v2.check(k2, SRC, t0 + 6000)), 'replayed');
    s2.close();

    const s3 = ReplayStore.open(dir, { windowMs: 3000, now: () => t0 + 7000 });
    assert.deepEqual(s3.window, { maxWindowMs: 600_000, floorMs: t0 + 2000 }, 'a lower window changes nothing');
    const v3 = new SpaVerifier(keyring, s3, ctxFor(ctx, s3, 3000));
    assert.equal(s3.has(k2.subarray(4, 36)), true, 'kept until timestamp + the largest window');
    assert.equal(outcome(v3.check(knock(t0 + 6990), SRC, t0 + 7000)), 'granted');
    s3.close();
  } finally { rmSync(dir, { recursive: true, force: true }); }
});
