/** Signers for encodeRequest: Ed25519 via tweetnacl (portable, used by the client) and HMAC. */
import nacl from 'tweetnacl';
import type { ClientKey } from '../keys/client.js';
import type { Signer } from './wire.js';

/**
 * `publicKey`, when the caller already derived it from this seed (a loaded ClientKey has), saves
 * a second scalar multiplication (~7 ms in tweetnacl): its secret key is just seed ‖ publicKey.
 */
export function ed25519Signer(seed: Uint8Array, publicKey?: Uint8Array): Signer {
  let secretKey: Uint8Array, pub: Uint8Array;
  if (publicKey) {
    pub = publicKey;
    secretKey = new Uint8Array(64);
    secretKey.set(seed, 0);
    secretKey.set(publicKey, 32);
  } else {
    const kp = nacl.sign.keyPair.fromSeed(seed);
    pub = kp.publicKey;
    secretKey = kp.secretKey;
  }
  return { alg: 'ed25519', publicKey: pub, sign: (msg) => nacl.sign.detached(msg, secretKey) };
}

export function hmacSigner(secret: Uint8Array): Signer {
  return { alg: 'hmac', secret: Uint8Array.from(secret) };
}

export function signerFor(k: ClientKey): Signer {
  return k.type === 'ed25519' ? ed25519Signer(k.material, k.publicKey) : hmacSigner(k.material);
}
