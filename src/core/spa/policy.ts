/**
 * The server's policy for an authenticated SPA request (PROTOCOL.md §5, after "authenticated"):
 * revoked/expired → server address → nat → address to open (never-open addresses) → source
 * binding → key networks → door → ttl. Pure; every reject carries the numbers that explain it.
 */
import type { Door } from '../config/types.js';
import { cidrContains, neverOpen, parseIp, type Ip } from '../ip.js';
import type { KeyRecord } from '../keys/record.js';
import type { RejectDetail } from './result.js';
import type { DecodedRequest, RejectReason } from './wire.js';

export interface SpaContext {
  doors: readonly Door[];
  /** The server's own addresses (canonical text); called per authenticated packet. */
  ownAddrs: () => readonly string[];
  /** Extra addresses a request may name (SPAAddress; e.g. the public address in front of a NAT). */
  spaAddrs: readonly string[];
  /** Allowed clock difference, ms. */
  windowMs: number;
  /**
   * Replay records are kept until timestamp + max(windowMs, maxWindowMs): the largest window
   * ever in force (io/replay-store.ts persists it), so raising the window revives nothing.
   */
  maxWindowMs?: number;
  /**
   * Requests signed before this time (ms) are stale whatever the window says: the later of the
   * last boot (replay records written before an OS crash may be lost, io/boot-time.ts) and the
   * replay store's floor (first start, window raised: core/spa/replay.ts applyWindow).
   */
  notBeforeMs?: number;
  /** Allow the signed address to differ from the packet source (off by default). */
  allowOtherIp?: boolean;
}

export type PolicyOutcome =
  | { ok: true; doorIndex: number; door: Door; ip: Ip; grantedTtl: number }
  | { ok: false; reason: RejectReason; detail?: RejectDetail };

/** Canonical source text; an IPv4-mapped IPv6 source counts as the IPv4 address. */
export function canonicalSrc(src: string): string {
  const ip = parseIp(src);
  if (!ip) return src;
  const m = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/.exec(ip.text);
  return m && m[1] ? m[1] : ip.text;
}

const no = (reason: RejectReason, detail?: RejectDetail): PolicyOutcome => ({ ok: false, reason, ...(detail ? { detail } : {}) });

/** `source` is the canonical packet source (canonicalSrc). */
export function decidePolicy(req: DecodedRequest, rec: KeyRecord, source: string, ctx: SpaContext, now: number): PolicyOutcome {
  if (rec.revoked !== undefined && now >= rec.revoked) return no('revoked', { at: rec.revoked });
  if (rec.expires !== undefined && now >= rec.expires) return no('expired', { at: rec.expires });

  const server = req.serverIp.text;
  if (!ctx.spaAddrs.includes(server) && !ctx.ownAddrs().includes(server)) return no('wrong-server', { server });

  // the address to open: the signed one, or (nat, if the key allows it) the packet's source
  let ip = req.allowIp;
  if (req.nat) {
    if (!rec.nat) return no('policy-nat', { seen: source, signed: req.allowIp.text });
    const seen = parseIp(source);
    if (!seen) return no('policy-address', { address: source, why: 'unparsable' });
    ip = seen;
  }
  const why = neverOpen(ip);
  if (why) return no('policy-address', { address: ip.text, why });
  if (!req.nat && !ctx.allowOtherIp && ip.text !== source) return no('source-mismatch', { signed: ip.text, seen: source });
  if (rec.from.length > 0 && !rec.from.some((c) => cidrContains(c, ip))) {
    return no('policy-source', { address: ip.text, from: rec.from.map((c) => c.text) });
  }

  let name = req.door;
  const refuseDoor = (): PolicyOutcome => no('policy-door', { door: req.door, allowed: rec.doors.length > 0 ? rec.doors : ctx.doors.filter((d) => d.spa).map((d) => d.name) });
  if (name === '') {
    if (rec.doors.length === 1 && rec.doors[0] !== undefined) name = rec.doors[0];
    else {
      const spaDoors = ctx.doors.filter((x) => x.spa);
      if (spaDoors.length !== 1 || spaDoors[0] === undefined) return refuseDoor();
      name = spaDoors[0].name;
    }
  }
  const doorIndex = ctx.doors.findIndex((x) => x.spa && x.name === name);
  const door = ctx.doors[doorIndex];
  if (doorIndex < 0 || !door) return refuseDoor();
  if (rec.doors.length > 0 && !rec.doors.includes(name)) return refuseDoor();

  const grantedTtl = Math.min(req.ttl || door.cmdTimeout, rec.maxTtl || door.cmdTimeout);
  return { ok: true, doorIndex, door, ip, grantedTtl };
}
