/**
 * SPA verifier (PROTOCOL.md §5). Order: structure → key id → freshness (window, last boot) →
 * [ed25519: mac1 → replay lookup → rate limits → signature | hmac: tag] → (authenticated)
 * revoked/expired → replay lookup → server address → source → key networks → door policy → ttl → replay record → grant.
 *
 * Everything before "authenticated" is cheap and changes no state except token buckets
 * (which only a packet with a valid mac1 touches). `check` never throws. Pure apart from
 * node:crypto (HMAC, Ed25519 verify); time comes in as `now`.
 */
import { createHmac, createPublicKey, timingSafeEqual, verify as cryptoVerify, type KeyObject } from 'node:crypto';
import type { Door } from '../config/types.js';
import { cidrContains, parseIp, type Ip } from '../ip.js';
import { mac1Key } from '../keys/id.js';
import type { Keyring } from '../keys/keyring.js';
import type { KeyRecord } from '../keys/record.js';
import { KeyedBuckets, TokenBucket, type BucketSpec } from './ratelimit.js';
import type { ReplayLog } from './replay.js';
import { LABEL_SIG } from '../keys/id.js';
import { decodeRequest, MAC1_LEN, REPLAY_ID_END, REPLAY_ID_START, TAG_LEN, type RejectReason } from './wire.js';

export type { RejectReason } from './wire.js';

export interface SpaGrant {
  key: { name: string; id: string };
  doorIndex: number;
  door: Door;
  /** The address to open (the signed allow_ip). */
  ip: Ip;
  /** Packet source address (canonical text). */
  src: string;
  /** TTL the client asked for (0 = door default). */
  requestedTtl: number;
  grantedTtl: number;
}

export type SpaResult =
  | { ok: true; grant: SpaGrant }
  | { ok: false; reason: RejectReason; keyId?: string; key?: string };

export interface SpaContext {
  doors: readonly Door[];
  /** The server's own addresses (canonical text); called per authenticated packet. */
  ownAddrs: () => readonly string[];
  /** Extra addresses a request may name (SPAAddress; e.g. the public address in front of a NAT). */
  spaAddrs: readonly string[];
  /** Allowed clock difference, ms. */
  windowMs: number;
  /**
   * Requests signed before this time (ms) are stale whatever the window says: the last boot,
   * since replay records written before an OS crash may be lost (io/boot-time.ts).
   */
  notBeforeMs?: number;
  /** Allow the signed address to differ from the packet source (off by default). */
  allowOtherIp?: boolean;
}

export type SigVerify = (msg: Uint8Array, key: KeyObject, sig: Uint8Array) => boolean;

export interface SpaLimits {
  /** Signature verifications per key. Default burst 10, 5/s. */
  perKey?: BucketSpec;
  /** Signature verifications overall. Default burst 200, 2000/s (≈ 30 % of one core in node:crypto). */
  global?: BucketSpec;
  /** Injected Ed25519 verify (tests count calls). Default node:crypto. */
  verify?: SigVerify;
}

interface Prepared { rec: KeyRecord; pub?: KeyObject; k1?: Buffer; secret?: Buffer }

export const defaultSigVerify: SigVerify = (msg, key, sig) => cryptoVerify(null, msg, key, sig);

/** Import a raw 32-byte Ed25519 public key for node:crypto (JWK). */
export function ed25519PublicKeyObject(pub: Uint8Array): KeyObject {
  return createPublicKey({ key: { kty: 'OKP', crv: 'Ed25519', x: Buffer.from(pub).toString('base64url') }, format: 'jwk' });
}

function prepare(rec: KeyRecord): Prepared {
  if (rec.type === 'ed25519' && rec.publicKey) {
    return { rec, pub: ed25519PublicKeyObject(rec.publicKey), k1: Buffer.from(mac1Key(rec.publicKey)) };
  }
  return { rec, ...(rec.secret ? { secret: Buffer.from(rec.secret) } : {}) };
}

/** Canonical source text; an IPv4-mapped IPv6 source counts as the IPv4 address. */
function canonicalSrc(src: string): string {
  const ip = parseIp(src);
  if (!ip) return src;
  const m = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/.exec(ip.text);
  return m && m[1] ? m[1] : ip.text;
}

export class SpaVerifier {
  #keys = new Map<string, Prepared>();
  #replay: ReplayLog;
  #ctx: SpaContext;
  #perKey: KeyedBuckets;
  #global: TokenBucket;
  #verify: SigVerify;
  #maxWindowMs = 0;
  /** Counters (for tests and metrics). */
  readonly stats = { checked: 0, signatureChecks: 0, granted: 0 };

  constructor(keyring: Keyring, replay: ReplayLog, ctx: SpaContext, limits: SpaLimits = {}) {
    this.#replay = replay;
    this.#ctx = ctx;
    this.#maxWindowMs = ctx.windowMs;
    this.#perKey = new KeyedBuckets(limits.perKey ?? { burst: 10, perSecond: 5 });
    this.#global = new TokenBucket(limits.global ?? { burst: 200, perSecond: 2000 });
    this.#verify = limits.verify ?? defaultSigVerify;
    this.setKeyring(keyring);
  }

  /** Swap the keyring (reload). Takes effect for the next packet. Throws only on a bad record. */
  setKeyring(k: Keyring): void {
    const m = new Map<string, Prepared>();
    for (const r of k.list()) m.set(r.id, prepare(r));
    this.#keys = m;
  }

  setContext(ctx: SpaContext): void {
    this.#ctx = ctx;
    // Replay records outlive the largest window this process has used, so raising SPAWindow
    // cannot make an already-accepted request fresh and unrecorded again.
    this.#maxWindowMs = Math.max(this.#maxWindowMs, ctx.windowMs);
  }

  /** Record a replay id durably; false (fail closed) when full or when the store fails. */
  #record(id: Uint8Array, expiresAt: number, now: number): boolean {
    try {
      if (this.#replay.add(id, expiresAt)) return true;
      this.#replay.prune?.(now);
      return this.#replay.add(id, expiresAt);
    } catch {
      return false;
    }
  }

  check(payload: Uint8Array, src: string, now: number): SpaResult {
    this.stats.checked++;
    try {
      return this.#check(payload, src, now);
    } catch {
      return { ok: false, reason: 'malformed' }; // defensive: attacker input never throws
    }
  }

  #check(payload: Uint8Array, src: string, now: number): SpaResult {
    const d = decodeRequest(payload);
    if (!d.ok) return { ok: false, reason: d.reason };
    const req = d.req, b = req.bytes, keyId = req.keyId;
    const pk = this.#keys.get(keyId);
    if (!pk || pk.rec.type !== req.alg) return { ok: false, reason: 'unknown-key', keyId };
    const ctx = this.#ctx;
    if (now - req.timestampMs > ctx.windowMs) return { ok: false, reason: 'stale', keyId };
    if (ctx.notBeforeMs !== undefined && req.timestampMs < ctx.notBeforeMs) return { ok: false, reason: 'stale', keyId };
    if (req.timestampMs - now > ctx.windowMs) return { ok: false, reason: 'future', keyId };

    if (req.alg === 'ed25519') {
      if (!pk.k1 || !pk.pub) return { ok: false, reason: 'unknown-key', keyId };
      const body = req.bodyLen;
      const mac = createHmac('sha256', pk.k1).update(b.subarray(0, body)).digest();
      if (!timingSafeEqual(mac.subarray(0, MAC1_LEN), b.subarray(body, body + MAC1_LEN))) return { ok: false, reason: 'bad-mac', keyId };
      // A sniffed genuine packet, resent, passes mac1. Turn it away before it can spend the key's
      // token bucket (and so delay the key holder's next knock). Not authenticated: no key name.
      if (this.#replay.has(b.subarray(REPLAY_ID_START, REPLAY_ID_END))) return { ok: false, reason: 'replayed', keyId };
      if (!this.#global.peek(now) || !this.#perKey.get(keyId).take(now) || !this.#global.take(now)) {
        return { ok: false, reason: 'rate-limited', keyId };
      }
      this.stats.signatureChecks++;
      const msg = new Uint8Array(LABEL_SIG.length + body + MAC1_LEN);
      msg.set(LABEL_SIG, 0);
      msg.set(b.subarray(0, body + MAC1_LEN), LABEL_SIG.length);
      if (!this.#verify(msg, pk.pub, b.subarray(body + MAC1_LEN))) return { ok: false, reason: 'forged', keyId };
    } else {
      if (!pk.secret) return { ok: false, reason: 'unknown-key', keyId };
      const body = req.bodyLen;
      const tag = createHmac('sha256', pk.secret).update(LABEL_SIG).update(b.subarray(0, body)).digest();
      if (!timingSafeEqual(tag, b.subarray(body, body + TAG_LEN))) return { ok: false, reason: 'forged', keyId };
    }

    // ---- authenticated: the key holder made exactly this request ----
    const rec = pk.rec;
    const who = { keyId, key: rec.name };
    if (rec.revoked !== undefined && now >= rec.revoked) return { ok: false, reason: 'revoked', ...who };
    if (rec.expires !== undefined && now >= rec.expires) return { ok: false, reason: 'expired', ...who };
    const replayId = b.subarray(REPLAY_ID_START, REPLAY_ID_END);
    if (this.#replay.has(replayId)) return { ok: false, reason: 'replayed', ...who };

    const server = req.serverIp.text;
    if (!ctx.spaAddrs.includes(server) && !ctx.ownAddrs().includes(server)) return { ok: false, reason: 'wrong-server', ...who };
    const source = canonicalSrc(src);
    if (!ctx.allowOtherIp && req.allowIp.text !== source) return { ok: false, reason: 'source-mismatch', ...who };
    if (rec.from.length > 0 && !rec.from.some((c) => cidrContains(c, req.allowIp))) return { ok: false, reason: 'policy-source', ...who };

    let name = req.door;
    if (name === '') {
      if (rec.doors.length === 1 && rec.doors[0] !== undefined) name = rec.doors[0];
      else {
        const spaDoors = ctx.doors.filter((x) => x.spa);
        if (spaDoors.length !== 1 || spaDoors[0] === undefined) return { ok: false, reason: 'policy-door', ...who };
        name = spaDoors[0].name;
      }
    }
    const doorIndex = ctx.doors.findIndex((x) => x.spa && x.name === name);
    const door = ctx.doors[doorIndex];
    if (doorIndex < 0 || !door) return { ok: false, reason: 'policy-door', ...who };
    if (rec.doors.length > 0 && !rec.doors.includes(name)) return { ok: false, reason: 'policy-door', ...who };

    const requested = req.ttl;
    const grantedTtl = Math.min(requested || door.cmdTimeout, rec.maxTtl || door.cmdTimeout);

    const expiresAt = req.timestampMs + Math.max(ctx.windowMs, this.#maxWindowMs);
    if (!this.#record(replayId, expiresAt, now)) return { ok: false, reason: 'replay-full', ...who };
    this.stats.granted++;
    return {
      ok: true,
      grant: { key: { name: rec.name, id: keyId }, doorIndex, door, ip: req.allowIp, src: source, requestedTtl: requested, grantedTtl },
    };
  }
}
