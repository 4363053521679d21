/**
 * nftables set elements for door leases: what to write for (door, address, time to live).
 * Pure; every function returns a value or a reason and never throws.
 *
 * Commands (one apply() = one line = one nft transaction, see src/io/nft.ts):
 *   open / refresh:  add element S { E timeout T comment C }; delete element S { E };
 *                    add element S { E timeout T comment C }
 *     The first add makes the delete valid whether or not E exists; the delete and the second
 *     add replace E with its new timeout and comment. The kernel applies the transaction
 *     atomically, so a refresh has no moment without E (verified in test/e2e/nft-channel.test.ts).
 *     `add` alone refreshes an existing element's timeout only on recent kernels (6.18 here);
 *     older kernels keep the old timeout, so the replace is what works everywhere.
 *   close:           add element S { E timeout 1s }; delete element S { E }
 *     (nft 1.0.6 has no `destroy`: deleting an absent element fails, adding it first makes the
 *     close idempotent: an element the kernel already expired is no error.)
 *
 * Safety: every word written comes from a validated source: set names ([A-Za-z_][A-Za-z0-9_]*,
 * src/core/config/nft.ts), an address re-parsed by core/ip.ts (canonical text: nft would try
 * DNS on anything that is not a numeric address), ports and protocols from the config, integer
 * milliseconds, and a comment of [A-Za-z0-9_.:=-] and spaces. TTLs below 1 s become 1 s: nft
 * reads `timeout 0s` as "never expires".
 */
import type { Config, Door, Hit, NftElementKind, NftSetRef } from '../config/types.js';
import { MAX_TIMEOUT_SECONDS } from '../config/door-keys.js';
import { parseIp, type Family, type Ip } from '../ip.js';

export const MIN_TTL_MS = 1000;
export const MAX_TTL_MS = MAX_TIMEOUT_SECONDS * 1000;
/** nft refuses longer element comments (NFTNL_UDATA_COMMENT_MAXLEN). */
export const MAX_COMMENT = 128;

/** Where a door puts the knockers of one address family, and what an element admits. */
export interface NftTarget {
  readonly set: NftSetRef;
  readonly family: Family;
  readonly element: NftElementKind;
  /** The door's `ports`: with 'addr-port' one element per port. */
  readonly ports: readonly Hit[];
}

/** The door's set for knockers of `family`, undefined when the door has none for it. */
export function nftTarget(door: Door, family: Family): NftTarget | undefined {
  const set = family === 4 ? door.nft?.set4 : door.nft?.set6;
  if (!door.nft || !set) return undefined;
  return { set, family, element: door.nft.element, ports: door.ports ?? [] };
}

/** Every (set, family, element kind) the config names: what NftChannel.open() checks. */
export function nftTargets(config: Config): NftTarget[] {
  const out: NftTarget[] = [];
  for (const d of config.doors) {
    for (const f of [4, 6] as const) {
      const t = nftTarget(d, f);
      if (t) out.push(t);
    }
  }
  return out;
}

export const setText = (r: NftSetRef): string => `${r.family} ${r.table} ${r.set}`;

/** The set type for an element kind, as nft writes it in a set declaration. */
export function setTypeText(kind: NftElementKind, family: Family): string {
  const addr = family === 4 ? 'ipv4_addr' : 'ipv6_addr';
  return kind === 'addr' ? addr : `${addr} . inet_proto . inet_service`;
}

/** Element keys for an address: `10.0.0.1`, or `10.0.0.1 . tcp . 22` per port. */
export function elementKeys(t: NftTarget, ip: Ip): { ok: true; keys: string[] } | { ok: false; error: string } {
  const canon = parseIp(ip.text);
  if (!canon || canon.text !== ip.text || canon.family !== ip.family) return { ok: false, error: `not a canonical address: ${JSON.stringify(ip.text)}` };
  if (canon.family !== t.family) return { ok: false, error: `IPv${canon.family} address ${canon.text} for the IPv${t.family} set ${setText(t.set)}` };
  if (t.element === 'addr') return { ok: true, keys: [canon.text] };
  if (t.ports.length === 0) return { ok: false, error: `set ${setText(t.set)} admits address . proto . port but the door has no ports` };
  const keys: string[] = [];
  for (const p of t.ports) {
    if (!Number.isInteger(p.port) || p.port < 1 || p.port > 65535 || (p.proto !== 'tcp' && p.proto !== 'udp')) {
      return { ok: false, error: `bad port ${JSON.stringify(p)}` };
    }
    const k = `${canon.text} . ${p.proto} . ${p.port}`;
    if (!keys.includes(k)) keys.push(k);
  }
  return { ok: true, keys };
}

/** Who an element belongs to, carried in its comment so a restarted daemon can tell. */
export interface ElementOwner {
  /** Lease id, [A-Za-z0-9_.:-]{1,40}. */
  readonly lease?: string;
  /** SPA key name (src/core/keys/record.ts NAME_RE); absent for a sequence knock. */
  readonly key?: string;
}

const LEASE_RE = /^[A-Za-z0-9_.:-]{1,40}$/;
const KEY_RE = /^[A-Za-z0-9_][A-Za-z0-9_.-]{0,63}$/;
const COMMENT_TAG = 'knockd';

/** `knockd lease=ID key=NAME` (parts optional); undefined when a part has characters we do not write. */
export function formatElementComment(o: ElementOwner): string | undefined {
  if (o.lease !== undefined && !LEASE_RE.test(o.lease)) return undefined;
  if (o.key !== undefined && !KEY_RE.test(o.key)) return undefined;
  let c = COMMENT_TAG;
  if (o.lease !== undefined) c += ` lease=${o.lease}`;
  if (o.key !== undefined) c += ` key=${o.key}`;
  return c.length <= MAX_COMMENT ? c : undefined;
}

/** The owner written by formatElementComment; undefined for any other comment (not ours). */
export function parseElementComment(c: unknown): ElementOwner | undefined {
  if (typeof c !== 'string' || c.length > MAX_COMMENT) return undefined;
  const parts = c.split(' ');
  if (parts[0] !== COMMENT_TAG) return undefined;
  let lease: string | undefined;
  let key: string | undefined;
  for (const p of parts.slice(1)) {
    if (p.startsWith('lease=') && lease === undefined && LEASE_RE.test(p.slice(6))) lease = p.slice(6);
    else if (p.startsWith('key=') && key === undefined && KEY_RE.test(p.slice(4))) key = p.slice(4);
    else return undefined;
  }
  return { ...(lease !== undefined ? { lease } : {}), ...(key !== undefined ? { key } : {}) };
}

/** Integer milliseconds within [1 s, MAX_TTL_MS], as nft time text (`30s`, `1500ms`). */
export function ttlText(ms: number): string {
  const v = Number.isFinite(ms) ? Math.min(MAX_TTL_MS, Math.max(MIN_TTL_MS, Math.round(ms))) : MIN_TTL_MS;
  return v % 1000 === 0 ? `${v / 1000}s` : `${v}ms`;
}

export type NftPlan = { ok: true; lines: string[] } | { ok: false; error: string };

/** Open or refresh: the element(s) for `ip` expire `ttlMs` from now, carrying `owner`. */
export function nftOpenLines(t: NftTarget, ip: Ip, ttlMs: number, owner: ElementOwner = {}): NftPlan {
  const k = elementKeys(t, ip);
  if (!k.ok) return k;
  const comment = formatElementComment(owner);
  if (comment === undefined) return { ok: false, error: `element owner ${JSON.stringify(owner)} has characters nft comments must not carry` };
  const timed = k.keys.map((e) => `${e} timeout ${ttlText(ttlMs)} comment "${comment}"`).join(', ');
  const s = setText(t.set);
  return {
    ok: true,
    lines: [`add element ${s} { ${timed} }`, `delete element ${s} { ${k.keys.join(', ')} }`, `add element ${s} { ${timed} }`],
  };
}

/** Close: remove the element(s) for `ip`, whether or not they are still there. */
export function nftCloseLines(t: NftTarget, ip: Ip): NftPlan {
  const k = elementKeys(t, ip);
  if (!k.ok) return k;
  const s = setText(t.set);
  return {
    ok: true,
    lines: [`add element ${s} { ${k.keys.map((e) => `${e} timeout 1s`).join(', ')} }`, `delete element ${s} { ${k.keys.join(', ')} }`],
  };
}

export const nftListLine = (r: NftSetRef): string => `list set ${setText(r)}`;
