/**
 * Generator for test/vectors/spa.json (PROTOCOL.md §8). Deterministic: TEST-ONLY fixed
 * seeds, fixed clock, nonces derived from the vector name. Ed25519 signatures are
 * deterministic (RFC 8032), so regenerating yields identical bytes.
 *
 * Regenerate after a deliberate format change:
 *   npx tsc -p . --outDir .build/x && node .build/x/test/vectors/gen-spa.js --write
 * test/core/spa/vectors.test.ts fails when the committed file differs from this output.
 */
import { createHash } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import nacl from 'tweetnacl';
import type { Door } from '../../src/core/config/types.js';
import { parseCidr, parseIp, type Ip } from '../../src/core/ip.js';
import { ed25519KeyProblem, encode, smallOrderEncodings, type PointProblem } from '../../src/core/keys/ed25519-point.js';
import { keyIdHex, mac1Key, mac1KeyV2, toB64 } from '../../src/core/keys/id.js';
import { Keyring } from '../../src/core/keys/keyring.js';
import type { KeyRecord } from '../../src/core/keys/record.js';
import { ed25519Signer, hmacSigner } from '../../src/core/spa/sign.js';
import type { SpaContext } from '../../src/core/spa/verify.js';
import { computeMac1, encodeRequest, HEADER_LEN, REPLAY_ID_END, REPLAY_ID_START, type RejectReason, type Signer } from '../../src/core/spa/wire.js';

export interface VectorKey {
  name: string; type: 'ed25519' | 'hmac'; enrolled: boolean;
  seed?: string; secret?: string; public?: string; id: string;
  /** v2 records: the enrolled mac1 key (hex); such a record accepts v2 requests only. */
  mac1?: string;
  doors: string[]; from: string[]; expires?: number; revoked?: number; maxTtl?: number; nat?: boolean;
}
/** A 32-byte string that must never be accepted as an Ed25519 public key (PROTOCOL.md §2). */
export interface WeakKeyVector { hex: string; problem: PointProblem; note: string }
export interface VectorDoor { name: string; spa: boolean; cmdTimeout: number }
export interface SpaVector {
  name: string; src: string; packet: string;
  replayed?: string[];
  expect: { ok: true; key: string; door: string; ip: string; grantedTtl: number } | { ok: false; reason: RejectReason };
}
export interface SpaVectorFile {
  comment: string;
  now: number; windowMs: number; ownAddrs: string[]; spaAddrs: string[];
  doors: VectorDoor[]; keys: VectorKey[]; vectors: SpaVector[];
  weakKeys: WeakKeyVector[];
}

const T0 = 1767225600000; // 2026-01-01T00:00:00Z
const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex');
const unhex = (s: string): Uint8Array => new Uint8Array(Buffer.from(s, 'hex'));
const h = (s: string): Uint8Array => new Uint8Array(createHash('sha256').update(s).digest());

/** TEST-ONLY key material: SHA-256 of a label. Never use these keys for anything real. */
const SEEDS: Record<string, Uint8Array> = {
  alice: h('knockd-ts TEST-ONLY seed alice'),
  bob: h('knockd-ts TEST-ONLY seed bob'),
  carol: h('knockd-ts TEST-ONLY seed carol'),
  dave: h('knockd-ts TEST-ONLY seed dave'),
  mallory: h('knockd-ts TEST-ONLY seed mallory'),
  erin: h('knockd-ts TEST-ONLY secret erin'),
  vera: h('knockd-ts TEST-ONLY seed vera'),
  walt: h('knockd-ts TEST-ONLY seed walt'),
};

function vkey(name: string, type: 'ed25519' | 'hmac', extra: Partial<VectorKey> = {}, v2 = false): VectorKey {
  const m = SEEDS[name] as Uint8Array;
  if (type === 'hmac') return { name, type, enrolled: true, secret: hex(m), id: keyIdHex('hmac', m), doors: [], from: [], ...extra };
  const pub = nacl.sign.keyPair.fromSeed(m).publicKey;
  return {
    name, type, enrolled: true, seed: hex(m), public: toB64(pub), id: keyIdHex('ed25519', pub),
    ...(v2 ? { mac1: hex(mac1KeyV2(m)) } : {}), doors: [], from: [], ...extra,
  };
}

/** Every small-order encoding, non-canonical encodings (y >= p) of large-order points, and off-curve strings. */
function weakKeys(): WeakKeyVector[] {
  const P = 2n ** 255n - 19n;
  const out: WeakKeyVector[] = [...smallOrderEncodings().keys()].sort().map((x) => {
    const problem = ed25519KeyProblem(unhex(x)) as PointProblem;
    return { hex: x, problem, note: problem === 'small-order' ? 'a point of order 1, 2, 4 or 8' : 'an encoding of a small-order point that is not canonical' };
  });
  for (let k = 2n; k < 19n; k++) {
    for (const sign of [0, 1]) {
      if (ed25519KeyProblem(encode(k, sign)) !== undefined) continue;   // y = k is no large-order point
      out.push({ hex: hex(encode(k + P, sign)), problem: 'non-canonical', note: `y = p + ${k}: the point with y = ${k}, encoded with y >= p` });
    }
  }
  for (const y of [2n, 5n]) {
    if (ed25519KeyProblem(encode(y, 0)) === 'not-on-curve') out.push({ hex: hex(encode(y, 0)), problem: 'not-on-curve', note: `y = ${y}: no point of the curve has it` });
  }
  return out;
}

const ip = (s: string): Ip => parseIp(s) as Ip;
const IDENTITY = ((): Uint8Array => { const b = new Uint8Array(32); b[0] = 1; return b; })();

export function generateSpaVectors(): SpaVectorFile {
  const keys: VectorKey[] = [
    vkey('alice', 'ed25519', { doors: ['ssh'] }),
    vkey('bob', 'ed25519', { doors: ['ssh', 'web'], from: ['10.0.0.0/8', '2001:db8:a::/48'], maxTtl: 30 }),
    vkey('carol', 'ed25519', { revoked: T0 - 1000 }),
    vkey('dave', 'ed25519', { expires: T0 - 1000 }),
    vkey('erin', 'hmac'),
    vkey('mallory', 'ed25519', { enrolled: false }),
    vkey('vera', 'ed25519', { doors: ['ssh'], nat: true }, true),
    vkey('walt', 'ed25519', { doors: ['ssh'] }, true),
    // the identity point as a "public key": refused when enrolled or loaded; here it is put into the
    // keyring directly, and the verifier must still refuse the R = identity, S = 0 forgery
    { name: 'zero', type: 'ed25519', enrolled: true, public: toB64(IDENTITY), id: keyIdHex('ed25519', IDENTITY), doors: [], from: [] },
  ];
  const doors: VectorDoor[] = [
    { name: 'ssh', spa: true, cmdTimeout: 10 },
    { name: 'web', spa: true, cmdTimeout: 20 },
    { name: 'classic', spa: false, cmdTimeout: 10 },
  ];
  const signer = (n: string): Signer => (n === 'erin' ? hmacSigner(SEEDS.erin as Uint8Array) : ed25519Signer(SEEDS[n] as Uint8Array));
  interface Req { key: string; door?: string; ttl?: number; ts?: number; allow?: string; server?: string; version?: 1 | 2; nat?: boolean }
  const pkt = (name: string, r: Req, signerOverride?: Signer): Uint8Array => encodeRequest({
    timestampMs: r.ts ?? T0 - 1500,
    nonce: h(`nonce:${name}`).subarray(0, 16),
    ttl: r.ttl ?? 0,
    allowIp: ip(r.allow ?? '203.0.113.5'),
    serverIp: ip(r.server ?? '192.0.2.1'),
    door: r.door ?? '',
    version: r.version ?? (r.key === 'vera' || r.key === 'walt' ? 2 : 1),
    ...(r.nat ? { nat: true } : {}),
  }, signerOverride ?? signer(r.key));
  const flip = (b: Uint8Array, i: number, bit = 1): Uint8Array => { const c = Uint8Array.from(b); c[i] = (c[i] ?? 0) ^ bit; return c; };
  const ok = (key: string, door: string, ipText: string, grantedTtl: number) => ({ ok: true as const, key, door, ip: ipText, grantedTtl });
  const no = (reason: RejectReason) => ({ ok: false as const, reason });
  const SRC = '203.0.113.5';
  const v: SpaVector[] = [];
  const add = (name: string, packet: Uint8Array, expect: SpaVector['expect'], src = SRC, replayed?: string[]) =>
    v.push({ name, src, packet: hex(packet), ...(replayed ? { replayed } : {}), expect });

  const base = pkt('valid-ed25519-v4', { key: 'alice', door: 'ssh' });
  add('valid-ed25519-v4', base, ok('alice', 'ssh', SRC, 10));
  add('valid-ed25519-default-door', pkt('valid-ed25519-default-door', { key: 'alice' }), ok('alice', 'ssh', SRC, 10));
  add('valid-ed25519-v6', pkt('valid-ed25519-v6', { key: 'alice', door: 'ssh', allow: '2001:db8:1::5', server: '2001:db8::1' }), ok('alice', 'ssh', '2001:db8:1::5', 10), '2001:db8:1::5');
  add('valid-spa-address', pkt('valid-spa-address', { key: 'alice', door: 'ssh', server: '198.51.100.7' }), ok('alice', 'ssh', SRC, 10));
  add('valid-ttl-capped-by-key', pkt('valid-ttl-capped-by-key', { key: 'bob', door: 'web', ttl: 3600, allow: '10.1.2.3' }), ok('bob', 'web', '10.1.2.3', 30), '10.1.2.3');
  add('valid-ttl-below-cap', pkt('valid-ttl-below-cap', { key: 'bob', door: 'ssh', ttl: 7, allow: '10.1.2.3' }), ok('bob', 'ssh', '10.1.2.3', 7), '10.1.2.3');
  add('valid-hmac', pkt('valid-hmac', { key: 'erin', door: 'web', ttl: 5 }), ok('erin', 'web', SRC, 5));
  add('valid-clock-skew-edge', pkt('valid-clock-skew-edge', { key: 'alice', door: 'ssh', ts: T0 + 60000 }), ok('alice', 'ssh', SRC, 10));

  const alicePub = nacl.sign.keyPair.fromSeed(SEEDS.alice as Uint8Array).publicKey;
  const malloryKp = nacl.sign.keyPair.fromSeed(SEEDS.mallory as Uint8Array);
  add('forged-signature-other-key', pkt('forged-signature-other-key', { key: 'alice', door: 'ssh' },
    { alg: 'ed25519', publicKey: alicePub, sign: (m) => nacl.sign.detached(m, malloryKp.secretKey) }), no('forged'));
  add('tampered-signature-last-bit', flip(base, base.length - 1), no('forged'));
  add('tampered-ttl-bad-mac', flip(base, 39), no('bad-mac'));
  add('tampered-allow-ip-bad-mac', flip(base, 45), no('bad-mac'));
  const zeroMac = Uint8Array.from(base); zeroMac.fill(0, 74 + 3, 74 + 3 + 16);
  add('bad-mac-zeroed', zeroMac, no('bad-mac'));
  add('truncated', base.subarray(0, base.length - 1), no('malformed'));
  add('extended', Uint8Array.from([...base, 0]), no('malformed'));
  add('bad-magic', flip(base, 0), no('malformed'));
  add('bad-version', flip(base, 2, 2), no('bad-version'));
  add('bad-alg', flip(base, 3, 4), no('malformed'));
  add('bad-flags', flip(base, 40, 0x80), no('malformed'));
  add('stale', pkt('stale', { key: 'alice', door: 'ssh', ts: T0 - 60001 }), no('stale'));
  add('future', pkt('future', { key: 'alice', door: 'ssh', ts: T0 + 60001 }), no('future'));
  const rep = pkt('replayed', { key: 'alice', door: 'ssh' });
  add('replayed', rep, no('replayed'), SRC, [hex(rep.subarray(REPLAY_ID_START, REPLAY_ID_END))]);
  add('wrong-server', pkt('wrong-server', { key: 'alice', door: 'ssh', server: '192.0.2.99' }), no('wrong-server'));
  add('unknown-key', pkt('unknown-key', { key: 'mallory', door: 'ssh' }), no('unknown-key'));
  const mis = pkt('alg-mismatch', { key: 'erin', door: 'web' });
  mis.set(unhex(keyIdHex('ed25519', nacl.sign.keyPair.fromSeed(SEEDS.alice as Uint8Array).publicKey)), 4);
  add('alg-mismatch', mis, no('unknown-key')); // an hmac packet naming alice's ed25519 key id
  add('alg-wrong-length', flip(base, 3, 3), no('malformed')); // alg 1 → 2 without the hmac length
  add('revoked', pkt('revoked', { key: 'carol', door: 'ssh' }), no('revoked'));
  add('expired', pkt('expired', { key: 'dave', door: 'ssh' }), no('expired'));
  add('source-mismatch', pkt('source-mismatch', { key: 'alice', door: 'ssh' }), no('source-mismatch'), '203.0.113.6');
  add('policy-source', pkt('policy-source', { key: 'bob', door: 'ssh' }), no('policy-source'));
  add('policy-door-not-allowed', pkt('policy-door-not-allowed', { key: 'alice', door: 'web' }), no('policy-door'));
  add('policy-door-unknown', pkt('policy-door-unknown', { key: 'erin', door: 'nosuch' }), no('policy-door'));
  add('policy-door-not-spa', pkt('policy-door-not-spa', { key: 'erin', door: 'classic' }), no('policy-door'));
  add('policy-door-ambiguous', pkt('policy-door-ambiguous', { key: 'erin' }), no('policy-door'));
  const hm = pkt('hmac-forged', { key: 'erin', door: 'web' });
  add('hmac-forged', flip(hm, hm.length - 1), no('forged'));
  add('hmac-tampered-field', flip(hm, 44), no('forged'));

  // ---- request v2: mac1 key enrolled with the record, not derivable from the public key ----
  add('valid-ed25519-v2', pkt('valid-ed25519-v2', { key: 'vera', door: 'ssh' }), ok('vera', 'ssh', SRC, 10));
  add('valid-ed25519-v2-nat', pkt('valid-ed25519-v2-nat', { key: 'vera', door: 'ssh', allow: '192.168.1.10', nat: true }), ok('vera', 'ssh', '198.51.100.77', 10), '198.51.100.77');
  add('valid-hmac-v2', pkt('valid-hmac-v2', { key: 'erin', door: 'web', version: 2 }), ok('erin', 'web', SRC, 20));
  add('valid-hmac-v2-nat-not-allowed', pkt('valid-hmac-v2-nat-not-allowed', { key: 'erin', door: 'web', version: 2, nat: true }), no('policy-nat'));
  add('v2-nat-not-allowed', pkt('v2-nat-not-allowed', { key: 'walt', door: 'ssh', nat: true }), no('policy-nat'));
  add('v1-request-for-v2-record', pkt('v1-request-for-v2-record', { key: 'vera', door: 'ssh', version: 1 }), no('bad-version'));
  add('v2-request-for-v1-record', pkt('v2-request-for-v1-record', { key: 'alice', door: 'ssh', version: 2 }), no('bad-version'));
  // whoever has only vera's public key computes mac1 the v1 way: never reaches the signature check
  const veraPub = nacl.sign.keyPair.fromSeed(SEEDS.vera as Uint8Array).publicKey;
  add('v2-mac1-from-public-key', pkt('v2-mac1-from-public-key', { key: 'vera', door: 'ssh' },
    { ...(signer('vera') as Extract<Signer, { alg: 'ed25519' }>), mac1Key: mac1Key(veraPub) }), no('bad-mac'));
  const v1nat = pkt('v1-nat-flag', { key: 'alice', door: 'ssh' }); v1nat[40] = (v1nat[40] ?? 0) | 0x04;
  add('v1-nat-flag', v1nat, no('malformed'));
  add('v2-stray-flag', flip(pkt('v2-stray-flag', { key: 'vera', door: 'ssh' }), 40, 0x08), no('malformed'));
  add('v2-bad-version-3', flip(pkt('v2-bad-version-3', { key: 'vera', door: 'ssh' }), 2, 1), no('bad-version'));

  // ---- addresses that are never opened (signed by a valid key) ----
  for (const [n, a] of [['unspecified-v4', '0.0.0.0'], ['unspecified-v6', '::'], ['loopback-v4', '127.0.0.1'], ['loopback-v6', '::1'],
    ['link-local-v4', '169.254.10.1'], ['link-local-v6', 'fe80::1'], ['multicast-v4', '224.0.0.251'], ['multicast-v6', 'ff02::1'],
    ['broadcast', '255.255.255.255'], ['mapped-loopback', '::ffff:127.0.0.1'], ['mapped-unspecified', '::ffff:0.0.0.0']] as const) {
    add(`policy-address-${n}`, pkt(`policy-address-${n}`, { key: 'alice', door: 'ssh', allow: a }), no('policy-address'), a.includes(':') ? '2001:db8:1::5' : SRC);
  }
  add('policy-address-nat-source', pkt('policy-address-nat-source', { key: 'vera', door: 'ssh', allow: '10.0.0.5', nat: true }), no('policy-address'), '127.0.0.1');

  // ---- a small-order key in the keyring: the R = identity, S = 0 forgery must still fail ----
  const zf = pkt('weak-key-forgery', { key: 'zero', door: 'ssh' }, { alg: 'ed25519', publicKey: IDENTITY, sign: () => new Uint8Array(64) });
  zf.set(IDENTITY, zf.length - 64);                 // R = identity, S = 0
  zf.set(computeMac1(mac1Key(IDENTITY), zf.subarray(0, HEADER_LEN + 3)), HEADER_LEN + 3);
  add('weak-key-forgery', zf, no('unknown-key'));

  return {
    comment: 'knockd-ts SPA v1 and v2 test vectors (PROTOCOL.md). TEST-ONLY keys: never use them for anything real. Generated by test/vectors/gen-spa.ts.',
    now: T0, windowMs: 60000, ownAddrs: ['192.0.2.1', '2001:db8::1'], spaAddrs: ['198.51.100.7'],
    doors, keys, vectors: v, weakKeys: weakKeys(),
  };
}

export function vectorDoor(d: VectorDoor, i: number): Door {
  return { name: d.name, line: i + 1, sequence: [], seqTimeout: 25, tcpFlags: {}, startCommand: 'true %IP%', cmdTimeout: d.cmdTimeout, spa: d.spa };
}

export function vectorRecord(k: VectorKey): KeyRecord {
  return {
    name: k.name, type: k.type, id: k.id,
    ...(k.public ? { publicKey: new Uint8Array(Buffer.from(k.public, 'base64')) } : {}),
    ...(k.secret ? { secret: unhex(k.secret) } : {}),
    ...(k.mac1 ? { mac1Key: unhex(k.mac1) } : {}),
    ...(k.nat ? { nat: true } : {}),
    doors: k.doors, from: k.from.map((c) => parseCidr(c)!),
    ...(k.expires !== undefined ? { expires: k.expires } : {}),
    ...(k.revoked !== undefined ? { revoked: k.revoked } : {}),
    ...(k.maxTtl !== undefined ? { maxTtl: k.maxTtl } : {}),
  };
}

export function vectorSetup(f: SpaVectorFile): { keyring: Keyring; ctx: SpaContext } {
  return {
    keyring: new Keyring(f.keys.filter((k) => k.enrolled).map(vectorRecord)),
    ctx: { doors: f.doors.map(vectorDoor), ownAddrs: () => f.ownAddrs, spaAddrs: f.spaAddrs, windowMs: f.windowMs },
  };
}

export const SPA_VECTORS_PATH = join('test', 'vectors', 'spa.json');

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1] && process.argv.includes('--write')) {
  writeFileSync(SPA_VECTORS_PATH, JSON.stringify(generateSpaVectors(), null, 2) + '\n');
  process.stdout.write(`wrote ${SPA_VECTORS_PATH}\n`);
}
