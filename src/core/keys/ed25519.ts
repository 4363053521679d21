/**
 * Ed25519 from a 32-byte seed with node:crypto (OpenSSL).
 *
 * Why not tweetnacl here: in a fresh `knock` process, loading tweetnacl and deriving + signing
 * once costs ~70 ms of JIT-cold JavaScript (measured: import 26–36 ms, derive + sign 42–50 ms),
 * against ~5 ms for node:crypto, which Node has already loaded. tweetnacl stays in the test
 * suite as the independent implementation both sides are checked against.
 */
import { createPrivateKey, createPublicKey, sign, type KeyObject } from 'node:crypto';

/** DER PKCS#8 header of an Ed25519 private key; the 32-byte seed follows (RFC 8410). */
const PKCS8_PREFIX = Uint8Array.from([0x30, 0x2e, 0x02, 0x01, 0x00, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x04, 0x22, 0x04, 0x20]);

/** Private key object for a 32-byte seed. Throws RangeError on a wrong length (a programming error). */
export function ed25519PrivateKey(seed: Uint8Array): KeyObject {
  if (seed.length !== 32) throw new RangeError(`Ed25519 seed must be 32 bytes, got ${seed.length}`);
  const der = new Uint8Array(PKCS8_PREFIX.length + 32);
  der.set(PKCS8_PREFIX, 0);
  der.set(seed, PKCS8_PREFIX.length);
  return createPrivateKey({ key: Buffer.from(der.buffer), format: 'der', type: 'pkcs8' });
}

/** The 32-byte public key of a private key object. */
export function ed25519PublicKey(key: KeyObject): Uint8Array {
  const spki = createPublicKey(key).export({ format: 'der', type: 'spki' });
  return new Uint8Array(spki.subarray(spki.length - 32));
}

export function ed25519PublicFromSeed(seed: Uint8Array): Uint8Array {
  return ed25519PublicKey(ed25519PrivateKey(seed));
}

/** 64-byte detached signature. */
export function ed25519Sign(key: KeyObject, msg: Uint8Array): Uint8Array {
  return new Uint8Array(sign(null, msg, key));
}
