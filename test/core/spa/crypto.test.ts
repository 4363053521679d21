/** Ed25519 interoperability: RFC 8032 vectors and tweetnacl ↔ node:crypto cross-checks. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createPrivateKey, sign as cryptoSign, verify as cryptoVerify } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import nacl from 'tweetnacl';
import { repoRoot } from '../../helpers/paths.js';
import { parseIp, type Ip } from '../../../src/core/ip.js';
import { Keyring } from '../../../src/core/keys/keyring.js';
import { keyIdHex } from '../../../src/core/keys/id.js';
import { ReplaySet } from '../../../src/core/spa/replay.js';
import { ed25519Signer } from '../../../src/core/spa/sign.js';
import { ed25519PrivateKey, ed25519PrivateKeyPkcs8, ed25519PublicFromSeed, ed25519Sign } from '../../../src/core/keys/ed25519.js';
import { ed25519PublicKeyObject, SpaVerifier } from '../../../src/core/spa/verify.js';
import { encodeRequest, signedMessage } from '../../../src/core/spa/wire.js';
import { vectorDoor } from '../../vectors/gen-spa.js';

const unhex = (s: string) => new Uint8Array(Buffer.from(s, 'hex'));
interface V { name: string; secret: string; public: string; message: string; signature: string }
const rfc = (JSON.parse(readFileSync(join(repoRoot, 'test', 'vectors', 'rfc8032-ed25519.json'), 'utf8')) as { vectors: V[] }).vectors;

function nodePrivate(seed: Uint8Array, pub: Uint8Array) {
  return createPrivateKey({ key: { kty: 'OKP', crv: 'Ed25519', d: Buffer.from(seed).toString('base64url'), x: Buffer.from(pub).toString('base64url') }, format: 'jwk' });
}

for (const v of rfc) {
  test(`RFC 8032 ${v.name}: tweetnacl and node:crypto derive, sign and verify identically`, () => {
    const kp = nacl.sign.keyPair.fromSeed(unhex(v.secret));
    assert.equal(Buffer.from(kp.publicKey).toString('hex'), v.public);
    const msg = unhex(v.message);
    assert.equal(Buffer.from(nacl.sign.detached(msg, kp.secretKey)).toString('hex'), v.signature);
    assert.equal(cryptoSign(null, msg, nodePrivate(unhex(v.secret), kp.publicKey)).toString('hex'), v.signature);
    // ours (keys/ed25519.ts, used by the client) against the vector
    assert.equal(Buffer.from(ed25519PublicFromSeed(unhex(v.secret))).toString('hex'), v.public);
    assert.equal(Buffer.from(ed25519Sign(ed25519PrivateKey(unhex(v.secret)), msg)).toString('hex'), v.signature);
    // the PKCS#8 import (the fallback should Node stop accepting a JWK without its public half) signs the same
    assert.equal(Buffer.from(ed25519Sign(ed25519PrivateKeyPkcs8(unhex(v.secret)), msg)).toString('hex'), v.signature);
    const pubObj = ed25519PublicKeyObject(unhex(v.public));
    assert.equal(cryptoVerify(null, msg, pubObj, unhex(v.signature)), true);
    assert.equal(nacl.sign.detached.verify(msg, unhex(v.signature), unhex(v.public)), true);
    const bad = unhex(v.signature); bad[0] = (bad[0] ?? 0) ^ 1;
    assert.equal(cryptoVerify(null, msg, pubObj, bad), false);
    assert.equal(nacl.sign.detached.verify(msg, bad, unhex(v.public)), false);
  });
}

const NOW = 1767225600000;
const ip = (s: string) => parseIp(s) as Ip;

test('cross-check: 20 tweetnacl-signed packets verify in the node:crypto verifier; our client signer matches tweetnacl', () => {
  for (let i = 0; i < 20; i++) {
    const seed = new Uint8Array(32).fill(i + 1);
    const kp = nacl.sign.keyPair.fromSeed(seed);
    const s = { alg: 'ed25519' as const, publicKey: kp.publicKey, sign: (m: Uint8Array) => nacl.sign.detached(m, kp.secretKey) };
    const ours = ed25519Signer(seed);
    assert.equal(ours.alg, 'ed25519');
    if (ours.alg !== 'ed25519') return;
    assert.deepEqual(ours.publicKey, kp.publicKey, 'same public key from the seed');
    const rec = { name: `k${i}`, type: 'ed25519' as const, id: keyIdHex('ed25519', s.publicKey), publicKey: s.publicKey, doors: [], from: [] };
    const ver = new SpaVerifier(new Keyring([rec]), new ReplaySet(), {
      doors: [vectorDoor({ name: 'ssh', spa: true, cmdTimeout: 10 }, 0)], ownAddrs: () => ['192.0.2.1'], spaAddrs: [], windowMs: 60000,
    });
    const fields = { timestampMs: NOW + i, nonce: new Uint8Array(16).fill(i), ttl: i, allowIp: ip('203.0.113.9'), serverIp: ip('192.0.2.1'), door: 'ssh' };
    const p1 = encodeRequest(fields, s);
    const r1 = ver.check(p1, '203.0.113.9', NOW);
    assert.equal(r1.ok, true, JSON.stringify(r1));

    // the other direction: our client signer (node:crypto), verified with tweetnacl
    const p2 = encodeRequest({ ...fields, nonce: new Uint8Array(16).fill(100 + i) }, ours);
    const body = p2.length - 64;
    assert.equal(nacl.sign.detached.verify(signedMessage(p2.subarray(0, body)), p2.subarray(body), s.publicKey), true);
    assert.deepEqual(p2.subarray(body), nacl.sign.detached(signedMessage(p2.subarray(0, body)), nacl.sign.keyPair.fromSeed(seed).secretKey));
    assert.equal(ver.check(p2, '203.0.113.9', NOW).ok, true);
  }
});
