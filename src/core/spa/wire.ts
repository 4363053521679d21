/**
 * SPA datagram v1 and v2 (PROTOCOL.md §3). All integers big-endian. One layout for both:
 *
 *   0  magic "KN" (2) | 2 version = 1 or 2 (1) | 3 alg: 1 = ed25519, 2 = hmac-sha256 (1)
 *   4  key_id (8) | 12 timestamp_ms (8) | 20 nonce (16) | 36 ttl seconds (4, 0 = door default)
 *   40 flags (1): bit0 allow_ip is IPv6, bit1 server_ip is IPv6, bit2 (v2 only) open the
 *      packet's source address ("nat"); other bits must be 0
 *   41 door name length L (1, 0..32) | 42 allow_ip (16) | 58 server_ip (16) | 74 door (L)
 *   ed25519: 74+L mac1 (16) | 90+L signature (64)            total 154 + L
 *   hmac:    74+L tag (32)                                      total 106 + L
 *
 * v1 and v2 differ in their domain labels (signature, tag, mac1 key: keys/id.ts) and in the
 * ed25519 mac1 key: v1 derives it from the public key, v2 uses the key enrolled with the record
 * (derived by the client from its private seed), so knowing a public key no longer lets anyone
 * reach the signature check (PROTOCOL.md §5).
 *
 * Decoding never throws and allocates nothing proportional to the input beyond the copy of
 * fixed-size fields. The replay id is bytes [4, 36): key_id || timestamp || nonce.
 */
import { createHmac } from 'node:crypto';
import { ipFromBytes, type Ip } from '../ip.js';
import { keyIdBytes, mac1Key as deriveMac1Key, sigLabel, type KeyType } from '../keys/id.js';

export const MAGIC0 = 0x4b, MAGIC1 = 0x4e; // "KN"
export type WireVersion = 1 | 2;
export const ALG_ED25519 = 1, ALG_HMAC = 2;
export const HEADER_LEN = 74;
export const MAX_DOOR_LEN = 32;
export const MAC1_LEN = 16, SIG_LEN = 64, TAG_LEN = 32;
export const ED25519_TRAILER = MAC1_LEN + SIG_LEN; // 80
export const MIN_LEN = HEADER_LEN + TAG_LEN;                           // 106
export const MAX_LEN = HEADER_LEN + MAX_DOOR_LEN + ED25519_TRAILER;      // 186
export const FLAG_ALLOW_V6 = 0x01, FLAG_SERVER_V6 = 0x02, FLAG_NAT = 0x04;
export const REPLAY_ID_START = 4, REPLAY_ID_END = 36;
export const DOOR_NAME_RE = /^[A-Za-z0-9_.-]*$/;

export type RejectReason =
  | 'malformed' | 'bad-version' | 'unknown-key' | 'stale' | 'future' | 'bad-mac' | 'rate-limited'
  | 'forged' | 'revoked' | 'expired' | 'replayed' | 'wrong-server' | 'source-mismatch'
  | 'policy-source' | 'policy-door' | 'policy-address' | 'policy-nat' | 'replay-full';

export const REJECT_REASONS: readonly RejectReason[] = [
  'malformed', 'bad-version', 'unknown-key', 'stale', 'future', 'bad-mac', 'rate-limited', 'forged',
  'revoked', 'expired', 'replayed', 'wrong-server', 'source-mismatch', 'policy-source', 'policy-door',
  'policy-address', 'policy-nat', 'replay-full',
];

export interface RequestFields {
  readonly timestampMs: number;
  readonly nonce: Uint8Array;     // 16 bytes
  readonly ttl: number;           // seconds, 0 = door default
  readonly allowIp: Ip;
  readonly serverIp: Ip;
  readonly door: string;          // '' = the key's single door / the only SPA door
  /** v2 only: ask to open the address the packet arrives from (the key needs `nat`). */
  readonly nat?: boolean;
  /** Request format; default 1. */
  readonly version?: WireVersion;
}

/**
 * How a request is authenticated. `sign` returns a 64-byte Ed25519 signature of `msg`;
 * `mac1Key` (v2 only) is the enrolled mac1 key (keys/id.ts mac1KeyV2).
 */
export type Signer =
  | { readonly alg: 'ed25519'; readonly publicKey: Uint8Array; readonly mac1Key?: Uint8Array; readonly sign: (msg: Uint8Array) => Uint8Array }
  | { readonly alg: 'hmac'; readonly secret: Uint8Array };

export interface DecodedRequest extends Required<RequestFields> {
  readonly alg: KeyType;
  readonly keyId: string;          // hex16
  readonly bytes: Uint8Array;      // the whole datagram (caller's buffer, not copied)
  readonly bodyLen: number;        // 74 + L: end of the fields, start of mac1 / tag
}

function putIp(buf: Uint8Array, off: number, ip: Ip): void {
  buf.set(ip.bytes, off); // v4 in the first 4 bytes, the rest stays zero
}

/** Encode and authenticate a request. Throws only on programming errors (bad field values). */
export function encodeRequest(fields: RequestFields, signer: Signer): Uint8Array {
  const door = new TextEncoder().encode(fields.door);
  if (door.length > MAX_DOOR_LEN || !DOOR_NAME_RE.test(fields.door)) throw new RangeError(`door name '${fields.door}' must match [A-Za-z0-9_.-]{0,32}`);
  if (fields.nonce.length !== 16) throw new RangeError('nonce must be 16 bytes');
  if (!Number.isSafeInteger(fields.timestampMs) || fields.timestampMs < 0) throw new RangeError('timestamp out of range');
  if (!Number.isInteger(fields.ttl) || fields.ttl < 0 || fields.ttl > 0xffffffff) throw new RangeError('ttl out of range');
  const version = fields.version ?? 1;
  if (version !== 1 && version !== 2) throw new RangeError('version must be 1 or 2');
  if (fields.nat && version !== 2) throw new RangeError('the nat flag needs request version 2');
  if (signer.alg === 'ed25519' && version === 2 && signer.mac1Key?.length !== 32) throw new RangeError('a v2 ed25519 request needs the 32-byte enrolled mac1 key');
  const L = door.length, body = HEADER_LEN + L;
  const total = body + (signer.alg === 'ed25519' ? ED25519_TRAILER : TAG_LEN);
  const buf = new Uint8Array(total);
  const dv = new DataView(buf.buffer);
  buf[0] = MAGIC0; buf[1] = MAGIC1; buf[2] = version;
  buf[3] = signer.alg === 'ed25519' ? ALG_ED25519 : ALG_HMAC;
  buf.set(keyIdBytes(signer.alg, signer.alg === 'ed25519' ? signer.publicKey : signer.secret), 4);
  dv.setBigUint64(12, BigInt(fields.timestampMs));
  buf.set(fields.nonce, 20);
  dv.setUint32(36, fields.ttl);
  buf[40] = (fields.allowIp.family === 6 ? FLAG_ALLOW_V6 : 0) | (fields.serverIp.family === 6 ? FLAG_SERVER_V6 : 0) | (fields.nat ? FLAG_NAT : 0);
  buf[41] = L;
  putIp(buf, 42, fields.allowIp);
  putIp(buf, 58, fields.serverIp);
  buf.set(door, 74);
  if (signer.alg === 'ed25519') {
    const k1 = version === 2 ? signer.mac1Key as Uint8Array : deriveMac1Key(signer.publicKey);
    buf.set(computeMac1(k1, buf.subarray(0, body)), body);
    const sig = signer.sign(signedMessage(buf.subarray(0, body + MAC1_LEN), version));
    if (sig.length !== SIG_LEN) throw new RangeError('signature must be 64 bytes');
    buf.set(sig, body + MAC1_LEN);
  } else {
    buf.set(computeTag(signer.secret, buf.subarray(0, body), version), body);
  }
  return buf;
}

/** "knockd-ts spa vN\0" || bytes: what the Ed25519 signature covers. */
export function signedMessage(bytes: Uint8Array, version: WireVersion = 1): Uint8Array {
  const label = sigLabel(version);
  const m = new Uint8Array(label.length + bytes.length);
  m.set(label, 0);
  m.set(bytes, label.length);
  return m;
}

export function computeMac1(k1: Uint8Array, bytes: Uint8Array): Uint8Array {
  return new Uint8Array(createHmac('sha256', k1).update(bytes).digest().subarray(0, MAC1_LEN));
}

export function computeTag(secret: Uint8Array, bytes: Uint8Array, version: WireVersion = 1): Uint8Array {
  return new Uint8Array(createHmac('sha256', secret).update(sigLabel(version)).update(bytes).digest());
}

/** IPv4 addresses sit in the first 4 of 16 bytes; the rest must be zero (one encoding per request). */
function canonicalPadding(b: Uint8Array, off: number, v6: boolean): boolean {
  if (v6) return true;
  for (let i = off + 4; i < off + 16; i++) if (b[i] !== 0) return false;
  return true;
}

function ipAt(b: Uint8Array, off: number, v6: boolean): Ip | undefined {
  if (v6) return ipFromBytes(b.subarray(off, off + 16));
  for (let i = off + 4; i < off + 16; i++) if (b[i] !== 0) return undefined; // canonical padding
  return ipFromBytes(b.subarray(off, off + 4));
}

export type DecodeResult = { ok: true; req: DecodedRequest } | { ok: false; reason: 'malformed' | 'bad-version' };

/**
 * Structural decode: length bounds → magic → version → alg → L and exact length → flags →
 * door charset → addresses. No cryptography, never throws.
 */
export function decodeRequest(b: Uint8Array): DecodeResult {
  if (!(b instanceof Uint8Array) || !looksLikeRequest(b)) return { ok: false, reason: 'malformed' };
  const version = b[2];
  if (version !== 1 && version !== 2) return { ok: false, reason: 'bad-version' };
  const algByte = b[3];
  if (algByte !== ALG_ED25519 && algByte !== ALG_HMAC) return { ok: false, reason: 'malformed' };
  const L = b[41] ?? 255;
  if (L > MAX_DOOR_LEN) return { ok: false, reason: 'malformed' };
  const body = HEADER_LEN + L;
  if (b.length !== body + (algByte === ALG_ED25519 ? ED25519_TRAILER : TAG_LEN)) return { ok: false, reason: 'malformed' };
  const flags = b[40] ?? 0xff;
  if ((flags & ~(FLAG_ALLOW_V6 | FLAG_SERVER_V6 | (version === 2 ? FLAG_NAT : 0))) !== 0) return { ok: false, reason: 'malformed' };
  for (let i = 0; i < L; i++) {
    const c = b[74 + i] ?? 0;
    const ok = (c >= 0x30 && c <= 0x39) || (c >= 0x41 && c <= 0x5a) || (c >= 0x61 && c <= 0x7a) || c === 0x5f || c === 0x2e || c === 0x2d;
    if (!ok) return { ok: false, reason: 'malformed' };
  }
  if (!canonicalPadding(b, 42, (flags & FLAG_ALLOW_V6) !== 0) || !canonicalPadding(b, 58, (flags & FLAG_SERVER_V6) !== 0)) return { ok: false, reason: 'malformed' };
  return { ok: true, req: new RequestView(b, version, algByte === ALG_ED25519 ? 'ed25519' : 'hmac', body, flags, L) };
}

const HEX = Array.from({ length: 256 }, (_, i) => i.toString(16).padStart(2, '0'));
const u32 = (b: Uint8Array, o: number): number =>
  (((b[o] ?? 0) << 24) | ((b[o + 1] ?? 0) << 16) | ((b[o + 2] ?? 0) << 8) | (b[o + 3] ?? 0)) >>> 0;

/**
 * A validated request read in place. Everything was checked by decodeRequest; the cheap fields
 * the verifier needs before the MAC are plain properties, and the address, door and nonce are
 * only built when read (after the MAC), so a forgery costs no allocation beyond the key id.
 */
class RequestView implements DecodedRequest {
  readonly version: WireVersion;
  readonly nat: boolean;
  readonly alg: KeyType;
  readonly keyId: string;
  readonly timestampMs: number;
  readonly ttl: number;
  readonly bytes: Uint8Array;
  readonly bodyLen: number;
  readonly #allowV6: boolean;
  readonly #serverV6: boolean;
  readonly #doorLen: number;
  #allow: Ip | undefined;
  #server: Ip | undefined;
  #door: string | undefined;

  constructor(b: Uint8Array, version: WireVersion, alg: KeyType, bodyLen: number, flags: number, doorLen: number) {
    this.bytes = b;
    this.version = version;
    this.nat = (flags & FLAG_NAT) !== 0;
    this.alg = alg;
    this.bodyLen = bodyLen;
    this.#allowV6 = (flags & FLAG_ALLOW_V6) !== 0;
    this.#serverV6 = (flags & FLAG_SERVER_V6) !== 0;
    this.#doorLen = doorLen;
    let id = '';
    for (let i = 4; i < 12; i++) id += HEX[b[i] ?? 0];
    this.keyId = id;
    const hi = u32(b, 12);
    // beyond 2^53 ms the value is nonsense anyway; clamp so it is never fresh
    this.timestampMs = hi > 0x1fffff ? Number.MAX_SAFE_INTEGER : hi * 4294967296 + u32(b, 16);
    this.ttl = u32(b, 36);
  }

  get nonce(): Uint8Array { return this.bytes.subarray(20, 36); }
  get allowIp(): Ip { return (this.#allow ??= ipAt(this.bytes, 42, this.#allowV6) as Ip); }
  get serverIp(): Ip { return (this.#server ??= ipAt(this.bytes, 58, this.#serverV6) as Ip); }
  get door(): string { return (this.#door ??= String.fromCharCode(...this.bytes.subarray(74, 74 + this.#doorLen))); }
}

/**
 * The cheapest possible pre-check (length bounds and the "KN" magic): what the kernel BPF filter
 * checks in pcap mode, for the UDP-socket mode, where Node offers no kernel-side filter. A
 * datagram failing it would be rejected by decodeRequest as `malformed` anyway.
 */
export function looksLikeRequest(b: Uint8Array): boolean {
  return b.length >= MIN_LEN && b.length <= MAX_LEN && b[0] === MAGIC0 && b[1] === MAGIC1;
}
