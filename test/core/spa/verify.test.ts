import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { repoRoot } from '../../helpers/paths.js';
import { parseIp, type Ip } from '../../../src/core/ip.js';
import { Keyring } from '../../../src/core/keys/keyring.js';
import { mac1Key } from '../../../src/core/keys/id.js';
import { ReplaySet } from '../../../src/core/spa/replay.js';
import { defaultSigVerify, SpaVerifier, type SigVerify } from '../../../src/core/spa/verify.js';
import { computeMac1, decodeRequest, encodeRequest, looksLikeRequest, MAX_LEN, MIN_LEN, REPLAY_ID_END, REPLAY_ID_START } from '../../../src/core/spa/wire.js';
import { ed25519Signer, hmacSigner } from '../../../src/core/spa/sign.js';
import { vectorSetup, type SpaVectorFile } from '../../vectors/gen-spa.js';
import { prng } from '../../helpers/prng.js';

const file = JSON.parse(readFileSync(join(repoRoot, 'test', 'vectors', 'spa.json'), 'utf8')) as SpaVectorFile;
const NOW = file.now;
const ip = (s: string) => parseIp(s) as Ip;
const seed = (n: string) => new Uint8Array(Buffer.from(file.keys.find((k) => k.name === n)?.seed ?? file.keys.find((k) => k.name === n)?.secret ?? '', 'hex'));
const aliceSigner = ed25519Signer(seed('alice'));

function setup(limits?: ConstructorParameters<typeof SpaVerifier>[3]) {
  const { keyring, ctx } = vectorSetup(file);
  const replay = new ReplaySet();
  return { ver: new SpaVerifier(keyring, replay, ctx, limits), replay, keyring, ctx };
}

let nonceCounter = 0;
function knock(over: Partial<{ ts: number; door: string; ttl: number; allow: string; server: string }> = {}, signer = aliceSigner) {
  nonceCounter++;
  const nonce = new Uint8Array(createHash('sha256').update(`n${nonceCounter}`).digest().subarray(0, 16));
  return encodeRequest({ timestampMs: over.ts ?? NOW, nonce, ttl: over.ttl ?? 0, allowIp: ip(over.allow ?? '203.0.113.5'),
    serverIp: ip(over.server ?? '192.0.2.1'), door: over.door ?? 'ssh' }, signer);
}

test('wire: encode/decode round trip, exact lengths, replay id = bytes 4..36', () => {
  for (const door of ['', 'a', 'ssh', 'x'.repeat(32)]) {
    for (const s of [aliceSigner, hmacSigner(seed('erin'))]) {
      const p = knock({ door, ttl: 77, allow: '2001:db8::5', server: '192.0.2.1' }, s);
      assert.equal(p.length, 74 + door.length + (s.alg === 'ed25519' ? 80 : 32));
      assert.ok(p.length >= MIN_LEN && p.length <= MAX_LEN);
      const d = decodeRequest(p);
      assert.equal(d.ok, true);
      if (!d.ok) continue;
      assert.equal(d.req.door, door);
      assert.equal(d.req.ttl, 77);
      assert.equal(d.req.allowIp.text, '2001:db8::5');
      assert.equal(d.req.serverIp.text, '192.0.2.1');
      assert.equal(d.req.timestampMs, NOW);
      assert.equal(d.req.alg, s.alg);
      assert.deepEqual(p.subarray(REPLAY_ID_START, REPLAY_ID_END), Uint8Array.from([...p.subarray(4, 12), ...p.subarray(12, 20), ...p.subarray(20, 36)]));
    }
  }
  assert.throws(() => knock({ door: 'x'.repeat(33) }));
  assert.throws(() => knock({ door: 'a b' }));
});

test('every single-bit flip anywhere in a valid ed25519 and hmac packet is rejected', () => {
  for (const s of [aliceSigner, hmacSigner(seed('erin'))]) {
    const p = knock({ door: s.alg === 'hmac' ? 'web' : 'ssh' }, s);
    const reasons = new Map<string, number>();
    for (let i = 0; i < p.length; i++) {
      for (let bit = 0; bit < 8; bit++) {
        const { ver } = setup({ perKey: { burst: 1e9, perSecond: 1e9 }, global: { burst: 1e9, perSecond: 1e9 } });
        const c = Uint8Array.from(p); c[i] = (c[i] ?? 0) ^ (1 << bit);
        const r = ver.check(c, '203.0.113.5', NOW);
        assert.equal(r.ok, false, `${s.alg} byte ${i} bit ${bit} was granted`);
        if (!r.ok) reasons.set(r.reason, (reasons.get(r.reason) ?? 0) + 1);
      }
    }
    // the untouched packet is granted (so the rejections above are due to the flips)
    assert.equal(setup().ver.check(p, '203.0.113.5', NOW).ok, true);
    for (const r of reasons.keys()) assert.ok(['malformed', 'bad-version', 'unknown-key', 'stale', 'future', 'bad-mac', 'forged'].includes(r), `${r}`);
    if (s.alg === 'ed25519') { assert.ok((reasons.get('forged') ?? 0) >= 64 * 8); assert.ok((reasons.get('bad-mac') ?? 0) > 0); }
  }
});

test('fuzz: 200k random and mutated datagrams → zero throws, zero grants', () => {
  const { ver } = setup();
  const rnd = prng(0xC0FFEE);
  const valid = [knock(), knock({ door: '' }), knock({}, hmacSigner(seed('erin'))), knock({ allow: '2001:db8::7', server: '2001:db8::1' })];
  let grants = 0;
  for (let i = 0; i < 200_000; i++) {
    let p: Uint8Array;
    const mode = rnd.int(4);
    if (mode === 0) p = rnd.bytes(rnd.int(260));
    else if (mode === 1) { // random body behind a valid-looking header
      p = rnd.bytes(MIN_LEN + rnd.int(MAX_LEN - MIN_LEN + 1)); p[0] = 0x4b; p[1] = 0x4e; p[2] = 1; p[3] = 1 + rnd.int(2);
      p[41] = rnd.int(33); p[40] = rnd.int(4);
    } else {
      const base = valid[rnd.int(valid.length)] as Uint8Array;
      p = Uint8Array.from(base);
      const n = 1 + rnd.int(mode === 2 ? 3 : 12);
      for (let k = 0; k < n; k++) { const j = rnd.int(p.length); p[j] = (p[j] ?? 0) ^ (1 + rnd.int(255)); }
      if (rnd.int(8) === 0) p = p.subarray(0, rnd.int(p.length + 1));
    }
    const r = ver.check(p, rnd.int(2) ? '203.0.113.5' : '2001:db8::7', NOW);
    if (r.ok) grants++;
  }
  assert.equal(grants, 0);
  assert.equal(ver.stats.checked, 200_000);
  assert.equal(ver.stats.internalErrors, 0, String(ver.lastInternalError));
  // non-Uint8Array input and odd sources never throw either
  assert.equal(ver.check(undefined as unknown as Uint8Array, 'junk', NOW).ok, false);
  assert.equal(ver.check(new Uint8Array(0), '', Number.NaN).ok, false);
});

test('forgery flood naming a real key id with bad mac1 never reaches signature verification; a valid knock in the middle is granted', () => {
  let calls = 0;
  const counting: SigVerify = (m, k, s) => { calls++; return defaultSigVerify(m, k, s); };
  const { ver } = setup({ verify: counting });
  const real = knock();
  const rnd = prng(7);
  let granted = 0;
  const rejected = new Map<string, number>();
  for (let i = 0; i < 100_000; i++) {
    if (i === 50_000) { const r = ver.check(real, '203.0.113.5', NOW); if (r.ok) granted++; continue; }
    const f = Uint8Array.from(real);
    f.set(rnd.bytes(16), 20); // fresh nonce, keep key id and fresh timestamp
    f.set(rnd.bytes(16), 77); // random mac1
    f.set(rnd.bytes(64), 93);
    const r = ver.check(f, '203.0.113.5', NOW + rnd.int(1000));
    if (!r.ok) rejected.set(r.reason, (rejected.get(r.reason) ?? 0) + 1);
  }
  assert.equal(granted, 1);
  assert.equal(calls, 1, 'only the real knock was signature-checked');
  assert.equal(rejected.get('bad-mac'), 99_999);
});

test('forgeries with a valid mac1 (attacker knows the public key) are bounded by the token buckets', () => {
  let calls = 0;
  const counting: SigVerify = (m, k, s) => { calls++; return defaultSigVerify(m, k, s); };
  const { ver } = setup({ verify: counting, perKey: { burst: 5, perSecond: 1 }, global: { burst: 50, perSecond: 100 } });
  const k1 = mac1Key(aliceSigner.alg === 'ed25519' ? aliceSigner.publicKey : new Uint8Array());
  const real = knock();
  const rnd = prng(9);
  const reasons = new Map<string, number>();
  for (let i = 0; i < 2000; i++) {
    const f = Uint8Array.from(real);
    f.set(rnd.bytes(16), 20);
    f.set(computeMac1(k1, f.subarray(0, 77)), 77);
    f.set(rnd.bytes(64), 93);
    const r = ver.check(f, '203.0.113.5', NOW + i); // 2 s of simulated time
    if (!r.ok) reasons.set(r.reason, (reasons.get(r.reason) ?? 0) + 1);
  }
  assert.equal(reasons.get('forged'), calls);
  assert.ok(calls <= 5 + 2 + 1, `signature checks ${calls}`);
  assert.equal((reasons.get('rate-limited') ?? 0) + calls, 2000);
  // another key is unaffected by alice's bucket
  const bob = knock({ allow: '10.9.9.9' }, ed25519Signer(seed('bob')));
  assert.equal(ver.check(bob, '10.9.9.9', NOW + 2000).ok, true);
  // the global bucket caps verifications across keys
  const g = setup({ perKey: { burst: 1e6, perSecond: 1e6 }, global: { burst: 3, perSecond: 0 }, verify: () => false });
  const rs = Array.from({ length: 10 }, () => g.ver.check(knock(), '203.0.113.5', NOW)).map((r) => (r.ok ? 'ok' : r.reason));
  assert.deepEqual(rs, ['forged', 'forged', 'forged', ...Array(7).fill('rate-limited')]);
});

test('a sniffed genuine packet resent at flood rate spends no tokens: the key holder still gets in', () => {
  let calls = 0;
  const counting: SigVerify = (m, k, s) => { calls++; return defaultSigVerify(m, k, s); };
  const { ver } = setup({ verify: counting, perKey: { burst: 2, perSecond: 0 }, global: { burst: 2, perSecond: 0 } });
  const real = knock();
  assert.equal(ver.check(real, '203.0.113.5', NOW).ok, true);
  assert.equal(calls, 1);
  for (let i = 0; i < 1000; i++) {
    const r = ver.check(real, '203.0.113.5', NOW + i);
    assert.equal(r.ok ? 'granted' : r.reason, 'replayed');
    assert.equal(r.ok ? undefined : r.key, undefined, 'not authenticated: no key name');
  }
  assert.equal(calls, 1, 'no signature check for a replay');
  // one token is left in both buckets: the next genuine knock opens
  assert.equal(ver.check(knock(), '203.0.113.5', NOW + 1000).ok, true);
});

test('state changes only after authentication: rejected packets leave the replay set untouched', () => {
  const { ver, replay } = setup({ perKey: { burst: 1e6, perSecond: 1e6 } });   // many vectors are alice's
  for (const v of file.vectors) if (!v.expect.ok && !v.replayed) ver.check(new Uint8Array(Buffer.from(v.packet, 'hex')), v.src, NOW);
  assert.equal(replay.size, 0);
  assert.equal(ver.check(knock(), '203.0.113.5', NOW).ok, true);
  assert.equal(replay.size, 1);
});

test('replay record expires at timestamp + window; full replay log fails closed (replay-full)', () => {
  const { keyring, ctx } = vectorSetup(file);
  const replay = new ReplaySet(2, 2);
  const ver = new SpaVerifier(keyring, replay, ctx);
  assert.equal(ver.check(knock({ ts: NOW - 30_000 }), '203.0.113.5', NOW).ok, true);
  assert.equal(ver.check(knock({ ts: NOW }), '203.0.113.5', NOW).ok, true);
  const r = ver.check(knock({ ts: NOW }), '203.0.113.5', NOW + 1);
  assert.deepEqual(r.ok ? 'ok' : r.reason, 'replay-full');
  // at NOW+30001 the first record is past ts+window and is pruned, making room
  assert.equal(ver.check(knock({ ts: NOW + 30_000 }), '203.0.113.5', NOW + 30_001).ok, true);
  assert.equal(replay.size, 2);
  // a throwing store also fails closed
  const broken = new SpaVerifier(keyring, { has: () => false, add: () => { throw new Error('EIO'); } }, ctx);
  const b = broken.check(knock(), '203.0.113.5', NOW);
  assert.deepEqual(b.ok ? 'ok' : b.reason, 'replay-full');
});

test('revocation and expiry take effect on the next packet via setKeyring, no restart', () => {
  const { ver, keyring } = setup();
  assert.equal(ver.check(knock(), '203.0.113.5', NOW).ok, true);
  const alice = keyring.byName('alice')!;
  ver.setKeyring(new Keyring([...keyring.list().filter((k) => k.name !== 'alice'), { ...alice, revoked: NOW + 5 }]));
  assert.equal(ver.check(knock(), '203.0.113.5', NOW + 4).ok, true); // revocation dated in the future
  const r = ver.check(knock({ ts: NOW + 5 }), '203.0.113.5', NOW + 5);
  assert.deepEqual(r.ok ? 'ok' : [r.reason, r.key], ['revoked', 'alice']);
  ver.setKeyring(new Keyring(keyring.list().filter((k) => k.name !== 'alice')));
  const u = ver.check(knock(), '203.0.113.5', NOW);
  assert.deepEqual(u.ok ? 'ok' : [u.reason, u.key], ['unknown-key', undefined]);
});

test('setKeyring keeps the prepared key of unchanged material and rebuilds a changed one', () => {
  const seen: object[] = [];
  const { ver, keyring } = setup({ verify: (m, k, sig) => { seen.push(k); return defaultSigVerify(m, k, sig); } });
  assert.equal(ver.check(knock(), '203.0.113.5', NOW).ok, true);
  const alice = keyring.byName('alice')!;
  ver.setKeyring(new Keyring([...keyring.list().filter((k) => k.name !== 'alice'), { ...alice, doors: ['ssh'] }]));
  assert.equal(ver.check(knock(), '203.0.113.5', NOW).ok, true);
  assert.equal(seen[1], seen[0], 'policy change only: the same KeyObject');
  ver.setKeyring(new Keyring([...keyring.list().filter((k) => k.name !== 'alice'), { ...alice, doors: ['web'] }]));
  const d = ver.check(knock(), '203.0.113.5', NOW);
  assert.deepEqual(d.ok ? 'ok' : d.reason, 'policy-door', 'the new record\'s policy applies');
  // the same id re-enrolled with a mac1 key (v2): the old v1 material must not be kept
  ver.setKeyring(new Keyring([...keyring.list().filter((k) => k.name !== 'alice'), { ...alice, mac1Key: new Uint8Array(32).fill(7) }]));
  const v = ver.check(knock(), '203.0.113.5', NOW);
  assert.equal(v.ok, false, 'a v1 request no longer passes once the record holds a v2 mac1 key');
});

test('an Ed25519 key object is built on a key\'s first signature check only, once, and kept across reloads', () => {
  const { ver, keyring } = setup();
  assert.ok(keyring.list().filter((k) => k.type === 'ed25519').length >= 2, 'several ed25519 records enrolled');
  assert.equal(ver.stats.keyObjectsBuilt, 0, 'loading builds no native key object');
  const bad = knock();
  bad[bad.length - 1]! ^= 1;   // a forged signature still needs the key object, once
  assert.equal(ver.check(bad, '203.0.113.5', NOW).ok, false);
  assert.equal(ver.stats.keyObjectsBuilt, 1);
  assert.equal(ver.check(knock(), '203.0.113.5', NOW).ok, true);
  ver.setKeyring(new Keyring(keyring.list()));
  assert.equal(ver.check(knock(), '203.0.113.5', NOW).ok, true);
  assert.equal(ver.stats.keyObjectsBuilt, 1, 'one object for alice, however many knocks and reloads; none for the others');
});

test('destination binding: own addresses are re-read per packet; SPAAddress accepted; another server rejects', () => {
  const { keyring, ctx } = vectorSetup(file);
  let own = ['192.0.2.1'];
  const ver = new SpaVerifier(keyring, new ReplaySet(), { ...ctx, ownAddrs: () => own });
  assert.equal(ver.check(knock(), '203.0.113.5', NOW).ok, true);
  own = ['192.0.2.2'];
  const r = ver.check(knock(), '203.0.113.5', NOW);
  assert.deepEqual(r.ok ? 'ok' : r.reason, 'wrong-server');
  assert.equal(ver.check(knock({ server: '198.51.100.7' }), '203.0.113.5', NOW).ok, true);
  // allowOtherIp: the signed address may differ from the packet source, the key's --from still applies
  ver.setContext({ ...ctx, allowOtherIp: true });
  const g = ver.check(knock({ allow: '198.18.0.1' }), '203.0.113.5', NOW);
  assert.equal(g.ok && g.grant.ip.text, '198.18.0.1');
  const b = ver.check(knock({ allow: '192.168.1.1' }, ed25519Signer(seed('bob'))), '10.0.0.1', NOW);
  assert.deepEqual(b.ok ? 'ok' : b.reason, 'policy-source');
  // an IPv4-mapped source counts as the IPv4 address
  ver.setContext(ctx);
  assert.equal(ver.check(knock(), '::ffff:203.0.113.5', NOW).ok, true);
});

test('notBeforeMs (last boot): a request signed before it is stale even inside the window', () => {
  const { keyring, ctx } = vectorSetup(file);
  const ver = new SpaVerifier(keyring, new ReplaySet(), { ...ctx, notBeforeMs: NOW + 1 });
  const early = ver.check(knock({ ts: NOW }), '203.0.113.5', NOW + 10);
  assert.deepEqual(early.ok ? 'granted' : early.reason, 'stale');
  assert.equal(ver.check(knock({ ts: NOW + 1 }), '203.0.113.5', NOW + 10).ok, true);
  // without the option the same request is fresh
  const plain = new SpaVerifier(keyring, new ReplaySet(), ctx);
  assert.equal(plain.check(knock({ ts: NOW }), '203.0.113.5', NOW + 10).ok, true);
});

test('looksLikeRequest agrees with decodeRequest on everything it turns away', () => {
  const rnd = prng(77);
  const real = knock();
  assert.equal(looksLikeRequest(real), true);
  let turnedAway = 0;
  for (let i = 0; i < 20000; i++) {
    const b = i % 2 === 0 ? rnd.bytes(rnd.int(260)) : Uint8Array.from(real.subarray(0, rnd.int(real.length + 1)));
    if (i % 3 === 0 && b.length > 1) { b[0] = 0x4b; b[1] = 0x4e; }
    if (!looksLikeRequest(b)) {
      turnedAway++;
      const d = decodeRequest(b);
      assert.equal(d.ok ? 'ok' : d.reason, 'malformed');
    }
  }
  assert.ok(turnedAway > 10000, String(turnedAway));
  for (const n of [MIN_LEN - 1, MAX_LEN + 1]) assert.equal(looksLikeRequest(new Uint8Array(n).fill(0x4b)), false);
});
