/**
 * Issue 10 / 12 hardening of the verifier: small-order R, per-key budgets for every key type,
 * per-key replay share, authenticated rejects with their numbers, the clock budget, v2 and nat.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { repoRoot } from '../../helpers/paths.js';
import { parseIp, type Ip } from '../../../src/core/ip.js';
import { mac1Key } from '../../../src/core/keys/id.js';
import { Keyring } from '../../../src/core/keys/keyring.js';
import { ReplaySet } from '../../../src/core/spa/replay.js';
import { ed25519Signer, hmacSigner } from '../../../src/core/spa/sign.js';
import { defaultSigVerify as ver0, SpaVerifier, type SpaLimits, type SpaResult } from '../../../src/core/spa/verify.js';
import { encodeRequest, type Signer } from '../../../src/core/spa/wire.js';
import { vectorSetup, type SpaVectorFile } from '../../vectors/gen-spa.js';

const file = JSON.parse(readFileSync(join(repoRoot, 'test', 'vectors', 'spa.json'), 'utf8')) as SpaVectorFile;
const NOW = file.now;
const material = (n: string) => new Uint8Array(Buffer.from(file.keys.find((k) => k.name === n)?.seed ?? file.keys.find((k) => k.name === n)?.secret ?? '', 'hex'));
const alice = ed25519Signer(material('alice'));
const vera = ed25519Signer(material('vera'));
const erin = hmacSigner(material('erin'));
const ip = (s: string) => parseIp(s) as Ip;
let nonce = 0;
interface K { ts?: number; door?: string; allow?: string; server?: string; version?: 1 | 2; nat?: boolean }
function knock(signer: Signer, o: K = {}): Uint8Array {
  return encodeRequest({
    timestampMs: o.ts ?? NOW, nonce: new Uint8Array(createHash('sha256').update(`h${nonce++}`).digest().subarray(0, 16)), ttl: 0,
    allowIp: ip(o.allow ?? '203.0.113.5'), serverIp: ip(o.server ?? '192.0.2.1'), door: o.door ?? 'ssh',
    version: o.version ?? (signer === vera ? 2 : 1), ...(o.nat ? { nat: true } : {}),
  }, signer);
}
const setup = (limits?: SpaLimits, replay = new ReplaySet()) => {
  const { keyring, ctx } = vectorSetup(file);
  return { ver: new SpaVerifier(keyring, replay, ctx, limits), replay, keyring, ctx };
};
const what = (r: SpaResult) => (r.ok ? 'granted' : r.reason);

test('a signature whose R is a small-order point is refused before any Ed25519 work (second lock)', () => {
  let calls = 0;
  const { ver } = setup({ verify: () => { calls++; return true; } });   // a verifier that would accept anything
  const p = knock(alice);
  const forged = Uint8Array.from(p);
  forged.fill(0, p.length - 64);
  forged[p.length - 64] = 1;                                           // R = identity, S = 0
  assert.equal(what(ver.check(forged, '203.0.113.5', NOW)), 'forged');
  assert.equal(calls, 0);
  assert.equal(what(ver.check(p, '203.0.113.5', NOW)), 'granted', 'control: the same verifier grants the real knock');
  assert.equal(calls, 1);
});

test('hmac keys have a per-key budget too: one holder flooding valid knocks gets burst + rate, others are unaffected', () => {
  const { ver } = setup();
  const rs = Array.from({ length: 1000 }, () => ver.check(knock(erin, { door: 'web' }), '203.0.113.5', NOW));
  assert.equal(rs.filter((r) => r.ok).length, 10, 'burst 10');
  const limited = rs.filter((r) => !r.ok);
  assert.ok(limited.every((r) => !r.ok && r.reason === 'rate-limited' && !r.authenticated && r.key === undefined), 'counted, not logged');
  const later = Array.from({ length: 100 }, () => ver.check(knock(erin, { door: 'web', ts: NOW + 1000 }), '203.0.113.5', NOW + 1000));
  assert.equal(later.filter((r) => r.ok).length, 5, '5 per second after that');
  assert.equal(what(ver.check(knock(alice), '203.0.113.5', NOW + 1000)), 'granted', 'another key keeps its own budget');
});

test('one key cannot fill the replay store: its share runs out (replay-full, scope key), other keys still get in', () => {
  const huge = { burst: 1e9, perSecond: 1e9 };
  const { ver } = setup({ perKey: huge, global: huge }, new ReplaySet(160));
  const rs = Array.from({ length: 50 }, () => ver.check(knock(erin, { door: 'web' }), '203.0.113.5', NOW));
  assert.equal(rs.filter((r) => r.ok).length, 10, '160 / 16 records for one key');
  const full = rs.find((r) => !r.ok);
  assert.deepEqual(full, { ok: false, reason: 'replay-full', authenticated: true, keyId: file.keys.find((k) => k.name === 'erin')!.id, key: 'erin', detail: { scope: 'key' } });
  for (let i = 0; i < 20; i++) assert.equal(what(ver.check(knock(alice), '203.0.113.5', NOW)), i < 10 ? 'granted' : 'replay-full');
  assert.equal(what(ver.check(knock(vera), '203.0.113.5', NOW)), 'granted', 'a third key still has its share');
});

test('authenticated rejects carry the numbers a user can act on', () => {
  const { ver, keyring } = setup();
  const cases: [Uint8Array, string, string, object][] = [
    [knock(alice, { ts: NOW - 600_000 }), '203.0.113.5', 'stale', { clockDiffMs: -600_000, windowMs: 60_000 }],
    [knock(alice, { ts: NOW + 90_500 }), '203.0.113.5', 'future', { clockDiffMs: 90_500, windowMs: 60_000 }],
    [knock(alice), '198.51.100.9', 'source-mismatch', { signed: '203.0.113.5', seen: '198.51.100.9' }],
    [knock(alice, { server: '192.0.2.200' }), '203.0.113.5', 'wrong-server', { server: '192.0.2.200' }],
    [knock(alice, { door: 'web' }), '203.0.113.5', 'policy-door', { door: 'web', allowed: ['ssh'] }],
    [knock(alice, { allow: '127.0.0.1' }), '127.0.0.1', 'policy-address', { address: '127.0.0.1', why: 'loopback' }],
    [knock(ed25519Signer(material('bob')), { allow: '192.168.7.7' }), '192.168.7.7', 'policy-source', { address: '192.168.7.7', from: ['10.0.0.0/8', '2001:db8:a::/48'] }],
    [knock(ed25519Signer(material('walt')), { nat: true, allow: '10.1.1.1', version: 2 }), '198.51.100.3', 'policy-nat', { seen: '198.51.100.3', signed: '10.1.1.1' }],
    [knock(ed25519Signer(material('carol'))), '203.0.113.5', 'revoked', { at: keyring.byName('carol')!.revoked }],
    [knock(ed25519Signer(material('dave'))), '203.0.113.5', 'expired', { at: keyring.byName('dave')!.expires }],
  ];
  for (const [p, src, reason, detail] of cases) {
    const r = ver.check(p, src, NOW);
    assert.equal(r.ok, false);
    if (r.ok) continue;
    assert.equal(r.reason, reason);
    assert.equal(r.authenticated, true, reason);
    assert.ok(r.key, reason);
    assert.deepEqual(r.detail, detail, reason);
  }
});

test('stale/future: authenticated only within the key\'s small clock budget; forged or replayed ones never', () => {
  let calls = 0;
  const { ver, replay } = setup({ verify: (m, k, s) => { calls++; return ver0(m, k, s); } });
  const rs = Array.from({ length: 5 }, () => ver.check(knock(alice, { ts: NOW - 120_000 }), '203.0.113.5', NOW));
  assert.deepEqual(rs.map((r) => !r.ok && [r.reason, r.authenticated]), [['stale', true], ['stale', true], ['stale', false], ['stale', false], ['stale', false]]);
  assert.equal(calls, 2, 'burst 2 signature checks, then nothing');
  assert.equal(what(ver.check(knock(alice), '203.0.113.5', NOW)), 'granted', 'the knock budget is untouched');
  // one diagnosis per 10 s after that
  assert.equal((ver.check(knock(alice, { ts: NOW }), '203.0.113.5', NOW + 70_001) as { authenticated: boolean }).authenticated, true);
  // a stale datagram with a wrong MAC, or one whose record is still held, is never authenticated
  const bad = knock(alice, { ts: NOW - 120_000 }); bad[80] = (bad[80] ?? 0) ^ 1;
  const { ver: fresh } = setup();
  assert.deepEqual((({ reason, authenticated }) => [reason, authenticated])(fresh.check(bad, '203.0.113.5', NOW) as { reason: string; authenticated: boolean }), ['stale', false]);
  const recorded = knock(alice, { ts: NOW - 120_000 });
  replay.add(recorded.subarray(4, 36), NOW + 1e6);
  assert.equal((ver.check(recorded, '203.0.113.5', NOW + 90_000) as { authenticated: boolean }).authenticated, false);
});

test('v2: a public-key holder cannot pass mac1 (bad-mac, no signature check); v1 records keep accepting v1 only', () => {
  let calls = 0;
  const { ver } = setup({ verify: (m, k, s) => { calls++; return ver0(m, k, s); } });
  const veraPub = ed25519Signer(material('vera'));
  const attacker: Signer = { alg: 'ed25519', publicKey: veraPub.alg === 'ed25519' ? veraPub.publicKey : new Uint8Array(),
    mac1Key: mac1Key(veraPub.alg === 'ed25519' ? veraPub.publicKey : new Uint8Array()), sign: () => new Uint8Array(64).fill(9) };
  for (let i = 0; i < 1000; i++) assert.equal(what(ver.check(knock(attacker, { version: 2 }), '203.0.113.5', NOW)), 'bad-mac');
  assert.equal(calls, 0, 'no signature check: the budget of the key is intact');
  assert.equal(what(ver.check(knock(vera), '203.0.113.5', NOW)), 'granted');
  // the same attack on a v1 record reaches the signature check and spends the key's budget
  const aliceAttacker: Signer = { alg: 'ed25519', publicKey: (alice as { publicKey: Uint8Array }).publicKey, sign: () => new Uint8Array(64).fill(9) };
  const rs = Array.from({ length: 50 }, () => what(ver.check(knock(aliceAttacker, { version: 1 }), '203.0.113.5', NOW)));
  assert.equal(rs.filter((r) => r === 'forged').length, 10);
  assert.equal(what(ver.check(knock(alice), '203.0.113.5', NOW)), 'rate-limited', 'v1: the genuine knock is locked out');
});

test('nat: the key must allow it; the packet source is opened; the signed local address is only informative', () => {
  const { ver, keyring } = setup();
  const r = ver.check(knock(vera, { nat: true, allow: '192.168.1.20' }), '198.51.100.200', NOW);
  assert.equal(r.ok && r.grant.ip.text, '198.51.100.200');
  assert.equal(r.ok && r.grant.nat, true);
  ver.setKeyring(new Keyring(keyring.list().map((k) => (k.name === 'vera' ? { ...k, nat: false } : k))));
  assert.equal(what(ver.check(knock(vera, { nat: true }), '198.51.100.200', NOW)), 'policy-nat', 'keys set --no-nat takes effect at once');
});
