/**
 * Reading `nft -j list set FAMILY TABLE SET` (nftables JSON schema 1, as nft 1.0.6 prints it):
 *
 *   {"nftables": [{"metainfo": {...}}, {"set": {"family": "inet", "name": "allowed4",
 *     "table": "knockd", "type": "ipv4_addr" | ["ipv4_addr", "inet_proto", "inet_service"],
 *     "flags": ["timeout"], "elem": [ELEM, ...]}}]}
 *   ELEM := VAL | {"elem": {"val": VAL, "timeout": S, "expires": S, "comment": "..."}}
 *   VAL  := "10.0.0.1" | {"concat": ["10.0.0.1", "tcp", 22]}
 *
 * `timeout` and `expires` are whole seconds (nft truncates; `expires` 0 = less than a second
 * left). The input comes from nft, not from the network, but is still treated as untrusted
 * text: nothing here throws, unknown shapes are counted in `skipped`, and at most `maxElements`
 * elements are returned. Pure.
 */
import type { Proto } from '../types.js';
import type { NftSetRef } from '../config/types.js';
import { parseIp, type Family } from '../ip.js';
import { parseElementComment, type ElementOwner } from './nft.js';

export interface NftListedElement {
  /** The element as src/core/firewall/nft.ts writes it: `10.0.0.1` or `10.0.0.1 . tcp . 22`. */
  readonly key: string;
  readonly ip: string;
  readonly family: Family;
  readonly proto?: Proto;
  readonly port?: number;
  /** Timeout the element was added with, ms (whole seconds); absent = no timeout (permanent). */
  readonly timeoutMs?: number;
  /** Time left, ms (whole seconds, rounded down). */
  readonly expiresMs?: number;
  readonly comment?: string;
  /** Set when the comment is one of ours (formatElementComment). */
  readonly owner?: ElementOwner;
}

export interface NftListedSet {
  readonly family: string;
  readonly table: string;
  readonly name: string;
  /** `ipv4_addr` or `ipv4_addr . inet_proto . inet_service` (joined with ' . '). */
  readonly type: string;
  readonly flags: readonly string[];
}

export type NftListResult =
  | { ok: true; set: NftListedSet; elements: NftListedElement[]; skipped: number }
  | { ok: false; error: string };

export const DEFAULT_MAX_ELEMENTS = 1_000_000;

const isObj = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
const strArr = (v: unknown): string[] => (Array.isArray(v) ? v.filter((x): x is string => typeof x === 'string') : []);
const seconds = (v: unknown): number | undefined => (typeof v === 'number' && Number.isFinite(v) && v >= 0 ? Math.floor(v) * 1000 : undefined);

function proto(v: unknown): Proto | undefined {
  if (v === 'tcp' || v === 6 || v === '6') return 'tcp';
  if (v === 'udp' || v === 17 || v === '17') return 'udp';
  return undefined;
}

function port(v: unknown): number | undefined {
  const n = typeof v === 'number' ? v : typeof v === 'string' && /^[0-9]{1,5}$/.test(v) ? Number(v) : NaN;
  return Number.isInteger(n) && n >= 1 && n <= 65535 ? n : undefined;
}

function element(raw: unknown): NftListedElement | undefined {
  let val: unknown = raw;
  let attrs: Record<string, unknown> = {};
  if (isObj(raw) && isObj(raw['elem'])) {
    attrs = raw['elem'];
    val = attrs['val'];
  }
  let ipText: unknown = val;
  let pr: Proto | undefined;
  let po: number | undefined;
  if (isObj(val)) {
    const c = val['concat'];
    if (!Array.isArray(c) || c.length !== 3) return undefined;
    ipText = c[0];
    pr = proto(c[1]);
    po = port(c[2]);
    if (pr === undefined || po === undefined) return undefined;
  }
  if (typeof ipText !== 'string' || ipText.length > 64) return undefined;
  const ip = parseIp(ipText);
  if (!ip) return undefined;
  const key = pr === undefined ? ip.text : `${ip.text} . ${pr} . ${po}`;
  const timeoutMs = seconds(attrs['timeout']);
  const expiresMs = seconds(attrs['expires']);
  const comment = typeof attrs['comment'] === 'string' ? attrs['comment'] : undefined;
  const owner = comment === undefined ? undefined : parseElementComment(comment);
  return {
    key, ip: ip.text, family: ip.family,
    ...(pr !== undefined ? { proto: pr, port: po as number } : {}),
    ...(timeoutMs !== undefined ? { timeoutMs } : {}),
    ...(expiresMs !== undefined ? { expiresMs } : {}),
    ...(comment !== undefined ? { comment } : {}),
    ...(owner !== undefined ? { owner } : {}),
  };
}

/** Parse the JSON text of one `list set`; `want` (if given) must be the set listed. */
export function parseNftListJson(text: string, want?: NftSetRef, maxElements = DEFAULT_MAX_ELEMENTS): NftListResult {
  let doc: unknown;
  try { doc = JSON.parse(text); } catch { return { ok: false, error: 'nft output is not JSON' }; }
  if (!isObj(doc) || !Array.isArray(doc['nftables'])) return { ok: false, error: 'nft JSON has no "nftables" array' };
  const sets = (doc['nftables'] as unknown[]).filter((x): x is Record<string, unknown> => isObj(x) && isObj(x['set']));
  if (sets.length !== 1) return { ok: false, error: `nft JSON holds ${sets.length} sets, expected 1` };
  const s = (sets[0] as Record<string, Record<string, unknown>>)['set'] as Record<string, unknown>;
  const family = typeof s['family'] === 'string' ? s['family'] : '';
  const table = typeof s['table'] === 'string' ? s['table'] : '';
  const name = typeof s['name'] === 'string' ? s['name'] : '';
  if (!family || !table || !name) return { ok: false, error: 'nft JSON set without family, table or name' };
  if (want && (family !== want.family || table !== want.table || name !== want.set)) {
    return { ok: false, error: `nft listed set ${family} ${table} ${name}, expected ${want.family} ${want.table} ${want.set}` };
  }
  const type = typeof s['type'] === 'string' ? s['type'] : strArr(s['type']).join(' . ');
  const set: NftListedSet = { family, table, name, type, flags: strArr(s['flags']) };
  const elements: NftListedElement[] = [];
  let skipped = 0;
  const raw = Array.isArray(s['elem']) ? (s['elem'] as unknown[]) : [];
  for (const r of raw) {
    const e = elements.length < maxElements ? element(r) : undefined;
    if (e) elements.push(e); else skipped++;
  }
  return { ok: true, set, elements, skipped };
}
