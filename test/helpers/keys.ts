/**
 * TEST-ONLY key material for tests that need real Ed25519 keys (records now refuse weak and
 * off-curve public keys): seeds are SHA-256 of a fixed label. Never use them for anything real.
 */
import { createHash } from 'node:crypto';
import { clientKeyFromSeed, type ClientKey } from '../../src/core/keys/client.js';
import type { KeyRecord } from '../../src/core/keys/record.js';

export const testSeed = (label: string): Uint8Array =>
  new Uint8Array(createHash('sha256').update(`knockd-ts TEST-ONLY seed ${label}`).digest());

export function testKey(label: string, version: 1 | 2 = 2): ClientKey {
  return clientKeyFromSeed(testSeed(label), version);
}

/** An ed25519 record for `name` with the TEST-ONLY key `label` (v1 record unless `version` 2). */
export function edRecord(name: string, label = name, extra: Partial<KeyRecord> = {}, version: 1 | 2 = 1): KeyRecord {
  const k = testKey(label, version);
  return {
    name, type: 'ed25519', id: k.id, publicKey: k.publicKey as Uint8Array, doors: [], from: [],
    ...(version === 2 ? { mac1Key: k.mac1Key as Uint8Array } : {}), ...extra,
  };
}
