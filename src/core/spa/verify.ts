/**
 * SPA verifier (PROTOCOL.md §5). Order:
 *
 *   structure → key id → version the record accepts → freshness (window, floor)
 *   → mac1 (ed25519) / tag (hmac) → replay lookup → per-key (+ global for ed25519) budget
 *   → ed25519 signature (R of small order refused)
 *   ── authenticated ── → policy (core/spa/policy.ts) → replay record (per-key share) → grant
 *
 * A request outside the window is stale/future; when its MAC is valid and the key's small
 * "clock" budget allows, it is authenticated too, so the reject can say by how much the
 * client's clock is off (a key holder's real problem) without letting replayed old datagrams
 * spend the key's knock budget.
 *
 * Everything before "authenticated" is cheap and changes no state except token buckets
 * (which only a packet with a valid MAC touches). `check` never throws. Pure apart from
 * node:crypto (HMAC, Ed25519 verify); time comes in as `now`.
 */
import { createHmac, createPublicKey, timingSafeEqual, verify as cryptoVerify, type KeyObject } from 'node:crypto';
import { isSmallOrderEncoding, isWeakEncoding } from '../keys/ed25519-point.js';
import { mac1Key, sigLabel } from '../keys/id.js';
import type { Keyring } from '../keys/keyring.js';
import type { KeyRecord } from '../keys/record.js';
import { canonicalSrc, decidePolicy, type SpaContext } from './policy.js';
import { KeyedBuckets, TokenBucket, type BucketSpec } from './ratelimit.js';
import type { ReplayAdd, ReplayLog } from './replay.js';
import type { RejectDetail, SpaReject, SpaResult } from './result.js';
import { decodeRequest, signedMessage, MAC1_LEN, REPLAY_ID_END, REPLAY_ID_START, TAG_LEN, type DecodedRequest, type RejectReason } from './wire.js';

export type { RejectReason } from './wire.js';
export type { SpaGrant, SpaResult, SpaReject, RejectDetail } from './result.js';
export type { SpaContext } from './policy.js';

export type SigVerify = (msg: Uint8Array, key: KeyObject, sig: Uint8Array) => boolean;

export interface SpaLimits {
  /**
   * Requests past the MAC per key, every key type (ed25519: signature checks; hmac: requests with
   * a valid tag). Bounds each key's grants and authenticated rejects. Default burst 10, 5/s.
   */
  perKey?: BucketSpec;
  /** Signature verifications overall. Default burst 200, 2000/s (≈ 30 % of one core in node:crypto). */
  global?: BucketSpec;
  /** Authenticated stale/future diagnoses per key. Default burst 2, one per 10 s. */
  clock?: BucketSpec;
  /** Injected Ed25519 verify (tests count calls). Default node:crypto. */
  verify?: SigVerify;
}

/**
 * An Ed25519 public key and, once a request for it has passed its mac1, its node:crypto object.
 * Built on first use: a record nobody knocks with (a revoked key, most of a large directory)
 * costs no native key object. Shared by the Prepared copies a reload makes.
 */
interface EdKey { readonly raw: Uint8Array; obj?: KeyObject }
interface Prepared { rec: KeyRecord; ed?: EdKey; k1?: Buffer; secret?: Buffer }

export const defaultSigVerify: SigVerify = (msg, key, sig) => cryptoVerify(null, msg, key, sig);

/** Import a raw 32-byte Ed25519 public key for node:crypto (JWK). */
export function ed25519PublicKeyObject(pub: Uint8Array): KeyObject {
  return createPublicKey({ key: { kty: 'OKP', crv: 'Ed25519', x: Buffer.from(pub).toString('base64url') }, format: 'jwk' });
}

/**
 * A Buffer with its own memory. Buffer.from(bytes) slices the shared 8 KB pool, and a slice kept
 * for months keeps its whole slab alive (measured: ~7 KB retained per enrolled key).
 */
function ownCopy(b: Uint8Array): Buffer {
  const c = Buffer.alloc(b.length);
  c.set(b);
  return c;
}

/**
 * Prepared key material, or undefined for a record that must never verify: an Ed25519 key of
 * small order or in a non-canonical encoding (refused when loading too; this is the second lock).
 */
function prepare(rec: KeyRecord): Prepared | undefined {
  if (rec.type === 'ed25519') {
    if (!rec.publicKey || isWeakEncoding(rec.publicKey)) return undefined;
    const k1 = rec.mac1Key ?? mac1Key(rec.publicKey);
    return { rec, ed: { raw: ownCopy(rec.publicKey) }, k1: ownCopy(k1) };
  }
  return rec.secret ? { rec, secret: ownCopy(rec.secret) } : undefined;
}

const sameBytes = (a: Uint8Array | undefined, b: Uint8Array | undefined): boolean =>
  a === b || (a !== undefined && b !== undefined && Buffer.compare(a, b) === 0);
const sameMaterial = (a: KeyRecord, b: KeyRecord): boolean =>
  a.type === b.type && sameBytes(a.publicKey, b.publicKey) && sameBytes(a.mac1Key, b.mac1Key) && sameBytes(a.secret, b.secret);

/** Versions a record accepts: ed25519 v2 records (enrolled mac1 key) only v2, v1 records only v1; hmac both. */
function acceptsVersion(rec: KeyRecord, version: 1 | 2): boolean {
  if (rec.type === 'hmac') return true;
  return rec.mac1Key ? version === 2 : version === 1;
}

const reject = (reason: RejectReason, keyId?: string): SpaReject => ({ ok: false, reason, authenticated: false, ...(keyId ? { keyId } : {}) });
const authReject = (reason: RejectReason, keyId: string, key: string, detail?: RejectDetail): SpaReject =>
  ({ ok: false, reason, authenticated: true, keyId, key, ...(detail ? { detail } : {}) });

export class SpaVerifier {
  #keys = new Map<string, Prepared>();
  #replay: ReplayLog;
  #ctx: SpaContext;
  #perKey: KeyedBuckets;
  #clock: KeyedBuckets;
  #global: TokenBucket;
  #verify: SigVerify;
  #maxWindowMs = 0;
  /** Counters (for tests and metrics). */
  readonly stats = { checked: 0, signatureChecks: 0, granted: 0, internalErrors: 0, keyObjectsBuilt: 0 };
  /** The last exception `check` caught (a bug, never attacker input): for the daemon to log. */
  lastInternalError: unknown;

  constructor(keyring: Keyring, replay: ReplayLog, ctx: SpaContext, limits: SpaLimits = {}) {
    this.#replay = replay;
    this.#ctx = ctx;
    this.#maxWindowMs = Math.max(ctx.windowMs, ctx.maxWindowMs ?? 0);
    this.#perKey = new KeyedBuckets(limits.perKey ?? { burst: 10, perSecond: 5 });
    this.#clock = new KeyedBuckets(limits.clock ?? { burst: 2, perSecond: 0.1 });
    this.#global = new TokenBucket(limits.global ?? { burst: 200, perSecond: 2000 });
    this.#verify = limits.verify ?? defaultSigVerify;
    this.setKeyring(keyring);
  }

  /**
   * Swap the keyring (reload). Takes effect for the next packet. A key whose material is
   * unchanged keeps its prepared material and KeyObject: building one per key per reload left
   * native memory the garbage collector reclaims late (soak: 500 key changes on a growing keyring).
   */
  setKeyring(k: Keyring): void {
    const old = this.#keys;
    const m = new Map<string, Prepared>();
    for (const r of k.list()) {
      const o = old.get(r.id);
      const p = o && sameMaterial(o.rec, r) ? { ...o, rec: r } : prepare(r);
      if (p) m.set(r.id, p);
    }
    this.#keys = m;
  }

  setContext(ctx: SpaContext): void {
    this.#ctx = ctx;
    // Records outlive the largest window this process has used as well as the persisted one.
    this.#maxWindowMs = Math.max(this.#maxWindowMs, ctx.windowMs, ctx.maxWindowMs ?? 0);
  }

  /** Record a replay id durably; fail closed when full or when the store fails. */
  #record(id: Uint8Array, expiresAt: number, now: number): ReplayAdd {
    try {
      const r = this.#replay.add(id, expiresAt);
      if (r === 'added') return r;
      this.#replay.prune?.(now);
      return this.#replay.add(id, expiresAt);
    } catch {
      return 'full';
    }
  }

  check(payload: Uint8Array, src: string, now: number): SpaResult {
    this.stats.checked++;
    try {
      return this.#check(payload, src, now);
    } catch (e) {
      // attacker input never throws: this is a bug. Counted (and kept) so it is never silent.
      this.stats.internalErrors++;
      this.lastInternalError = e;
      return reject('malformed');
    }
  }

  /** mac1 (ed25519) or tag (hmac) over the request body: the cheap gate. */
  #macOk(pk: Prepared, req: DecodedRequest): boolean {
    const b = req.bytes, body = req.bodyLen;
    if (pk.k1) {
      const mac = createHmac('sha256', pk.k1).update(b.subarray(0, body)).digest();
      return timingSafeEqual(mac.subarray(0, MAC1_LEN), b.subarray(body, body + MAC1_LEN));
    }
    const tag = createHmac('sha256', pk.secret as Buffer).update(sigLabel(req.version)).update(b.subarray(0, body)).digest();
    return timingSafeEqual(tag, b.subarray(body, body + TAG_LEN));
  }

  /** Ed25519 signature over label || body || mac1, with a small-order R refused outright. */
  #signatureOk(pk: Prepared, req: DecodedRequest): boolean {
    const b = req.bytes, body = req.bodyLen;
    const sig = b.subarray(body + MAC1_LEN);
    if (isSmallOrderEncoding(sig.subarray(0, 32))) return false;
    this.stats.signatureChecks++;
    const ed = pk.ed as EdKey;
    if (!ed.obj) { ed.obj = ed25519PublicKeyObject(ed.raw); this.stats.keyObjectsBuilt++; }
    return this.#verify(signedMessage(b.subarray(0, body + MAC1_LEN), req.version), ed.obj, sig);
  }

  /** A request outside the window: authenticated (with the clock difference) only within the key's clock budget. */
  #clockReject(pk: Prepared, req: DecodedRequest, reason: 'stale' | 'future', now: number): SpaReject {
    const keyId = req.keyId;
    if (!this.#macOk(pk, req) || this.#replay.has(req.bytes.subarray(REPLAY_ID_START, REPLAY_ID_END))) return reject(reason, keyId);
    if (!this.#clock.get(keyId).take(now)) return reject(reason, keyId);
    if (pk.ed && (!this.#global.take(now) || !this.#signatureOk(pk, req))) return reject(reason, keyId);
    const ctx = this.#ctx;
    const floor = ctx.notBeforeMs !== undefined && req.timestampMs < ctx.notBeforeMs ? { notBeforeMs: ctx.notBeforeMs } : {};
    return authReject(reason, keyId, pk.rec.name, { clockDiffMs: req.timestampMs - now, windowMs: ctx.windowMs, ...floor });
  }

  #check(payload: Uint8Array, src: string, now: number): SpaResult {
    const d = decodeRequest(payload);
    if (!d.ok) return reject(d.reason);
    const req = d.req, b = req.bytes, keyId = req.keyId;
    const pk = this.#keys.get(keyId);
    if (!pk || pk.rec.type !== req.alg) return reject('unknown-key', keyId);
    if (!acceptsVersion(pk.rec, req.version)) return reject('bad-version', keyId);
    const ctx = this.#ctx;
    if (now - req.timestampMs > ctx.windowMs) return this.#clockReject(pk, req, 'stale', now);
    if (ctx.notBeforeMs !== undefined && req.timestampMs < ctx.notBeforeMs) return this.#clockReject(pk, req, 'stale', now);
    if (req.timestampMs - now > ctx.windowMs) return this.#clockReject(pk, req, 'future', now);

    if (!this.#macOk(pk, req)) return reject(pk.ed ? 'bad-mac' : 'forged', keyId);
    // A sniffed genuine packet, resent, passes the MAC. Turn it away before it can spend the key's
    // budget (and so delay the key holder's next knock). Never authenticated: anyone can resend.
    const replayId = b.subarray(REPLAY_ID_START, REPLAY_ID_END);
    if (this.#replay.has(replayId)) return reject('replayed', keyId);
    if (pk.ed) {
      if (!this.#global.peek(now) || !this.#perKey.get(keyId).take(now) || !this.#global.take(now)) return reject('rate-limited', keyId);
      if (!this.#signatureOk(pk, req)) return reject('forged', keyId);
    } else if (!this.#perKey.get(keyId).take(now)) {
      return reject('rate-limited', keyId);
    }

    // ---- authenticated: the key holder made exactly this request ----
    const rec = pk.rec;
    const source = canonicalSrc(src);
    const p = decidePolicy(req, rec, source, ctx, now);
    if (!p.ok) return authReject(p.reason, keyId, rec.name, p.detail);

    const expiresAt = req.timestampMs + Math.max(ctx.windowMs, ctx.maxWindowMs ?? 0, this.#maxWindowMs);
    const added = this.#record(replayId, expiresAt, now);
    if (added !== 'added') return authReject('replay-full', keyId, rec.name, { scope: added === 'key-full' ? 'key' : 'store' });
    this.stats.granted++;
    return {
      ok: true,
      grant: {
        key: { name: rec.name, id: keyId }, doorIndex: p.doorIndex, door: p.door, ip: p.ip, src: source,
        requestedTtl: req.ttl, grantedTtl: p.grantedTtl, version: req.version, nat: req.nat,
      },
    };
  }
}
