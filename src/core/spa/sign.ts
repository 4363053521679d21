/** Signers for encodeRequest: Ed25519 via tweetnacl (portable, used by the client) and HMAC. */
import nacl from 'tweetnacl';
import type { ClientKey } from '../keys/client.js';
import type { Signer } from './wire.js';

export function ed25519Signer(seed: Uint8Array): Signer {
  const kp = nacl.sign.keyPair.fromSeed(seed);
  return { alg: 'ed25519', publicKey: kp.publicKey, sign: (msg) => nacl.sign.detached(msg, kp.secretKey) };
}

export function hmacSigner(secret: Uint8Array): Signer {
  return { alg: 'hmac', secret: Uint8Array.from(secret) };
}

export function signerFor(k: ClientKey): Signer {
  return k.type === 'ed25519' ? ed25519Signer(k.material) : hmacSigner(k.material);
}
