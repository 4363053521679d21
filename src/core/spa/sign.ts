/** Signers for encodeRequest: Ed25519 (node:crypto, see keys/ed25519.ts) and HMAC. */
import type { KeyObject } from 'node:crypto';
import type { ClientKey } from '../keys/client.js';
import { ed25519PrivateKey, ed25519PublicKey, ed25519Sign } from '../keys/ed25519.js';
import { mac1KeyV2 } from '../keys/id.js';
import type { Signer } from './wire.js';

/**
 * `publicKey` and `privateKey`, when the caller already made them from this seed (a loaded
 * ClientKey has), are not made again. The signer carries the v2 mac1 key (derived from the
 * seed) for v2 requests.
 */
export function ed25519Signer(seed: Uint8Array, publicKey?: Uint8Array, mac1Key?: Uint8Array, privateKey?: KeyObject): Signer {
  const key = privateKey ?? ed25519PrivateKey(seed);
  const pub = publicKey ?? ed25519PublicKey(key);
  return { alg: 'ed25519', publicKey: pub, mac1Key: mac1Key ?? mac1KeyV2(seed), sign: (msg) => ed25519Sign(key, msg) };
}

export function hmacSigner(secret: Uint8Array): Signer {
  return { alg: 'hmac', secret: Uint8Array.from(secret) };
}

export function signerFor(k: ClientKey): Signer {
  return k.type === 'ed25519' ? ed25519Signer(k.material, k.publicKey, k.mac1Key, k.privateKey) : hmacSigner(k.material);
}
