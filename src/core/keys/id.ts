/**
 * Key identifiers and derived per-key constants (PROTOCOL.md §2). Pure: hashing only.
 *
 *   ed25519 key id = SHA-256("knockd-ts key id v1\0"  || public key)[0..8]
 *   hmac    key id = SHA-256("knockd-ts hmac id v1\0" || secret)[0..8]
 *   mac1 key  K1   = SHA-256("knockd-ts mac1 v1\0"    || public key)     (request v1)
 *   mac1 key  K1v2 = SHA-256("knockd-ts mac1 v2\0"    || private seed)   (request v2: enrolled
 *                    with the key, not derivable from the public key)
 */
import { createHash } from 'node:crypto';

const enc = new TextEncoder();
export const LABEL_ED25519_ID = enc.encode('knockd-ts key id v1\0');
export const LABEL_HMAC_ID = enc.encode('knockd-ts hmac id v1\0');
export const LABEL_MAC1 = enc.encode('knockd-ts mac1 v1\0');
export const LABEL_SIG = enc.encode('knockd-ts spa v1\0');
export const LABEL_MAC1_V2 = enc.encode('knockd-ts mac1 v2\0');
export const LABEL_SIG_V2 = enc.encode('knockd-ts spa v2\0');

/** Domain label of the signature / hmac tag of a request of this version. */
export function sigLabel(version: 1 | 2): Uint8Array {
  return version === 2 ? LABEL_SIG_V2 : LABEL_SIG;
}

export type KeyType = 'ed25519' | 'hmac';

function sha256(label: Uint8Array, data: Uint8Array): Uint8Array {
  return new Uint8Array(createHash('sha256').update(label).update(data).digest());
}

/** 8-byte key id for a public key (ed25519) or a secret (hmac). */
export function keyIdBytes(type: KeyType, material: Uint8Array): Uint8Array {
  return sha256(type === 'ed25519' ? LABEL_ED25519_ID : LABEL_HMAC_ID, material).subarray(0, 8);
}

export function keyIdHex(type: KeyType, material: Uint8Array): string {
  return toHex(keyIdBytes(type, material));
}

/** The 32-byte v1 mac1 key for an Ed25519 public key (anyone with the public key can compute it). */
export function mac1Key(publicKey: Uint8Array): Uint8Array {
  return sha256(LABEL_MAC1, publicKey);
}

/** The 32-byte v2 mac1 key of an Ed25519 key pair, from its private seed (the client derives it). */
export function mac1KeyV2(seed: Uint8Array): Uint8Array {
  return sha256(LABEL_MAC1_V2, seed);
}

export function toHex(b: Uint8Array): string {
  return Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString('hex');
}

/** Strict hex → bytes (even length, [0-9a-f] either case); undefined otherwise. */
export function fromHex(s: string): Uint8Array | undefined {
  if (s.length % 2 !== 0 || !/^[0-9a-fA-F]*$/.test(s)) return undefined;
  return new Uint8Array(Buffer.from(s, 'hex'));
}

/**
 * Strict base64 → bytes of an expected length; undefined otherwise (no silent truncation).
 * Only the canonical encoding passes: the decoded bytes must encode back to `s` exactly, which
 * also refuses any character outside the alphabet, missing or extra padding and white space.
 */
export function fromB64(s: string, len?: number): Uint8Array | undefined {
  const b = Buffer.from(s, 'base64');
  if (b.toString('base64') !== s) return undefined;
  if (len !== undefined && b.length !== len) return undefined;
  return new Uint8Array(b);
}

export function toB64(b: Uint8Array): string {
  return Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString('base64');
}
