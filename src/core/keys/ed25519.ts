/**
 * Ed25519 from a 32-byte seed with node:crypto (OpenSSL).
 *
 * Why not tweetnacl here: in a fresh `knock` process, loading tweetnacl and deriving + signing
 * once costs ~70 ms of JIT-cold JavaScript (measured: import 26–36 ms, derive + sign 42–50 ms),
 * against ~5 ms for node:crypto, which Node has already loaded. tweetnacl stays in the test
 * suite as the independent implementation both sides are checked against.
 *
 * Keys go in and out as JWK (RFC 8037), not DER: node:crypto then takes the raw seed and
 * returns the raw public key directly, where PKCS#8/SPKI go through OpenSSL's decoder and
 * encoder framework. Measured in a fresh process: import 0.45 ms instead of 1.0 ms, public
 * key 0.11 ms instead of 0.49 ms (`knock --spa` start-up, issue 11).
 */
import { createPrivateKey, createPublicKey, sign, type KeyObject } from 'node:crypto';

/** Private key object for a 32-byte seed. Throws RangeError on a wrong length (a programming error). */
export function ed25519PrivateKey(seed: Uint8Array): KeyObject {
  if (seed.length !== 32) throw new RangeError(`Ed25519 seed must be 32 bytes, got ${seed.length}`);
  // A private OKP JWK must carry `x` (a string), but node:crypto (20, 22) imports the seed `d`
  // alone and derives the public key itself; `x` is what we are about to compute, so it is left
  // empty. Should a later Node insist on a matching `x`, the standard PKCS#8 form still works.
  const raw = Buffer.from(seed.buffer, seed.byteOffset, seed.byteLength);
  try {
    return createPrivateKey({ key: { kty: 'OKP', crv: 'Ed25519', d: raw.toString('base64url'), x: '' }, format: 'jwk' });
  } catch {
    return ed25519PrivateKeyPkcs8(seed);
  }
}

/** RFC 8410 PKCS#8 header of an Ed25519 private key; the 32-byte seed follows. */
const PKCS8_ED25519_PREFIX = Buffer.from('302e020100300506032b657004220420', 'hex');

/** The PKCS#8 path alone (tests: both ways give the same key). */
export function ed25519PrivateKeyPkcs8(seed: Uint8Array): KeyObject {
  return createPrivateKey({ key: Buffer.concat([PKCS8_ED25519_PREFIX, Buffer.from(seed)]), format: 'der', type: 'pkcs8' });
}

/** The 32-byte public key of a private key object. */
export function ed25519PublicKey(key: KeyObject): Uint8Array {
  const x = createPublicKey(key).export({ format: 'jwk' }).x;
  const pub = x === undefined ? undefined : Buffer.from(x, 'base64url');
  if (pub?.length !== 32) throw new RangeError('not an Ed25519 key');
  return new Uint8Array(pub);
}

export function ed25519PublicFromSeed(seed: Uint8Array): Uint8Array {
  return ed25519PublicKey(ed25519PrivateKey(seed));
}

/** 64-byte detached signature. */
export function ed25519Sign(key: KeyObject, msg: Uint8Array): Uint8Array {
  return new Uint8Array(sign(null, msg, key));
}
