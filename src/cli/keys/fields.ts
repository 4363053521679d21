/**
 * The policy options of `knockd keys add` and `keys set`: --doors, --from, --expires, --max-ttl,
 * --nat/--no-nat, --comment. Parsed once, validated against the configuration (door names must
 * be the config's SPA doors), times through core/time-text.ts. Operator mistakes throw
 * AppError('ERR_USAGE') naming the option and the value.
 */
import { AppError } from '../../core/errors.js';
import type { KeyFields } from '../../core/audit/events.js';
import { parseCidr, type Cidr } from '../../core/ip.js';
import { DOOR_RE, MAX_TTL_LIMIT, parseList, type KeyRecord } from '../../core/keys/record.js';
import { describeControl, hasControl, printable } from '../../core/text.js';
import { formatSeconds, parseDuration, parseWhen, TIME_SYNTAX } from '../../core/time-text.js';

export interface PolicyFlags { doors?: string; from?: string; expires?: string; maxTtl?: string; nat?: boolean; comment?: string }

/** A change to a record's policy; null clears a field (back to its default). */
export interface PolicyChange {
  doors?: string[]; from?: Cidr[]; expires?: number | null; maxTtl?: number | null; nat?: boolean; comment?: string | null;
}

export interface PolicyContext {
  readonly now: number;
  /** The configuration's SPA doors (spa = yes). */
  readonly spaDoors: readonly string[];
}

const usage = (m: string): never => { throw new AppError('ERR_USAGE', m); };

export const ALL = '*';

function parseDoors(text: string, ctx: PolicyContext): string[] {
  if (text.trim() === ALL) return [];
  const doors = parseList(text);
  if (doors.length === 0) usage(`--doors '${printable(text)}': give door names, or '${ALL}' for every SPA door`);
  const known = ctx.spaDoors.length ? ctx.spaDoors.join(', ') : '(none: the configuration has no door with spa = yes)';
  for (const d of doors) {
    if (!DOOR_RE.test(d)) usage(`--doors: '${printable(d)}' is not a door name ([A-Za-z0-9_.-]{1,32})`);
    if (!ctx.spaDoors.includes(d)) usage(`--doors: '${d}' is not an SPA door of the configuration; SPA doors: ${known}`);
  }
  return [...new Set(doors)];
}

function parseFrom(text: string): Cidr[] {
  if (text.trim() === ALL || text.trim() === 'anywhere') return [];
  const list = parseList(text);
  if (list.length === 0) usage(`--from '${printable(text)}': give networks (10.0.0.0/8,2001:db8::/32), or '${ALL}' for anywhere`);
  return list.map((c) => parseCidr(c) ?? usage(`--from: '${printable(c)}' is not a network (address/prefix, host bits zero)`));
}

function parseExpires(text: string, now: number): number | null {
  if (text.trim() === 'never') return null;
  const t = parseWhen(text, now, 'future');
  if (t === undefined) return usage(`--expires '${printable(text)}': expected ${TIME_SYNTAX}, or 'never'`);
  if (t <= now) usage(`--expires '${printable(text)}' is not in the future (${new Date(t).toISOString()}); a key must expire after now`);
  return t;
}

/** Seconds: a whole number, or a duration of the shared syntax (90s, 15m, 2h, 1d); 0 or 'default' = the door's cmd_timeout. */
export function parseMaxTtl(text: string): number | null {
  const t = text.trim();
  if (t === 'default' || t === '0') return null;
  let s: number | undefined;
  if (/^\d{1,10}$/.test(t)) s = Number(t);
  else {
    const ms = parseDuration(t);
    if (ms !== undefined && ms % 1000 === 0) s = ms / 1000;
  }
  if (s === undefined || s > MAX_TTL_LIMIT) return usage(`--max-ttl '${printable(text)}': expected seconds or a duration (90s, 15m, 2h), or 'default'`);
  return s;
}

function parseComment(text: string): string | null {
  if (hasControl(text)) usage(`--comment holds ${describeControl(text)}; control characters are refused`);
  return text.trim() === '' ? null : text.trim();
}

export function parsePolicy(f: PolicyFlags, ctx: PolicyContext): PolicyChange {
  const c: PolicyChange = {};
  if (f.doors !== undefined) c.doors = parseDoors(f.doors, ctx);
  if (f.from !== undefined) c.from = parseFrom(f.from);
  if (f.expires !== undefined) c.expires = parseExpires(f.expires, ctx.now);
  if (f.maxTtl !== undefined) c.maxTtl = parseMaxTtl(f.maxTtl);
  if (f.nat !== undefined) c.nat = f.nat;
  if (f.comment !== undefined) c.comment = parseComment(f.comment);
  return c;
}

/** A nat permission is only usable by a key that signs v2 requests (v1 has no nat flag). */
export function checkNatUsable(r: KeyRecord): void {
  if (r.nat && r.type === 'ed25519' && !r.mac1Key) {
    usage(`--nat: '${r.name}' was enrolled from a v1 line and accepts v1 requests only, which carry no nat flag; enrol a key made by 'knock --keygen' (v2)`);
  }
}

/** `rec` with `c` applied (null fields removed). */
export function applyPolicy(rec: KeyRecord, c: PolicyChange): KeyRecord {
  const out: Record<string, unknown> = { ...rec };
  if (c.doors !== undefined) out['doors'] = c.doors;
  if (c.from !== undefined) out['from'] = c.from;
  const opt = (k: 'expires' | 'maxTtl' | 'comment', v: unknown): void => {
    if (v === undefined) return;
    if (v === null) delete out[k]; else out[k] = v;
  };
  opt('expires', c.expires);
  opt('maxTtl', c.maxTtl);
  opt('comment', c.comment);
  if (c.nat !== undefined) { if (c.nat) out['nat'] = true; else delete out['nat']; }
  return out as unknown as KeyRecord;
}

export function versionsOf(r: KeyRecord): string {
  return r.type === 'hmac' ? 'v1,v2' : r.mac1Key ? 'v2' : 'v1';
}

/** The policy fields of a record, as audit records carry them (never key material). */
export function keyFields(r: KeyRecord): KeyFields {
  return {
    type: r.type, version: versionsOf(r), doors: r.doors, from: r.from.map((c) => c.text),
    expires: r.expires ?? null, maxTtl: r.maxTtl ?? null, nat: r.nat === true, comment: r.comment ?? null,
  };
}

/** The fields that differ between two records: new values and previous values. */
export function diffFields(before: KeyRecord, after: KeyRecord): { fields: KeyFields; previous: KeyFields } {
  const a = keyFields(before) as Record<string, unknown>, b = keyFields(after) as Record<string, unknown>;
  const fields: Record<string, unknown> = {}, previous: Record<string, unknown> = {};
  for (const k of Object.keys(b)) {
    if (JSON.stringify(a[k]) !== JSON.stringify(b[k])) { fields[k] = b[k]; previous[k] = a[k]; }
  }
  return { fields: fields as KeyFields, previous: previous as KeyFields };
}

/** Human text of a policy for messages: "doors ssh, from anywhere, expires never, max ttl 1h". */
export function describePolicy(r: KeyRecord): string {
  return [
    `doors ${r.doors.length ? r.doors.join(',') : '(all spa doors)'}`,
    `from ${r.from.length ? r.from.map((c) => c.text).join(',') : 'anywhere'}`,
    `expires ${r.expires !== undefined ? new Date(r.expires).toISOString() : 'never'}`,
    `max ttl ${r.maxTtl ? formatSeconds(r.maxTtl) : '(door cmd_timeout)'}`,
    `nat ${r.nat ? 'allowed' : 'no'}`,
  ].join(', ');
}
