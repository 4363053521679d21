/**
 * Server-side key records: one file per principal, KeysDir/NAME.key, ini format
 * (PROTOCOL.md §6). Parsing is strict: every non-comment line is `key = value`, every key
 * is known, every value is validated (no control characters anywhere, no weak Ed25519 key), and
 * the id must match the key material, so a hand-edited record cannot silently mean something
 * else. Pure (text in, record out).
 */
import * as ini from 'ini';
import { AppError } from '../errors.js';
import { parseCidr, type Cidr } from '../ip.js';
import { describeControl, hasControl } from '../text.js';
import { publicKeyProblem } from './client.js';
import { fromB64, keyIdHex, toB64, type KeyType } from './id.js';
import { parseInstant } from '../time-text.js';

export interface KeyRecord {
  readonly name: string;
  readonly type: KeyType;
  /** hex16 key id (PROTOCOL.md §2). */
  readonly id: string;
  /** Ed25519 public key (32 bytes); only for type ed25519. */
  readonly publicKey?: Uint8Array;
  /** HMAC secret (32 bytes); only for type hmac. */
  readonly secret?: Uint8Array;
  /**
   * ed25519 only: the enrolled v2 mac1 key (32 bytes). With it the record accepts v2 requests
   * only; without it (enrolled from a v1 line) v1 requests only. hmac records accept both.
   */
  readonly mac1Key?: Uint8Array;
  /** May a request ask to open the address its packet comes from (v2 nat flag)? */
  readonly nat?: boolean;
  /** Door names this key may open; empty = every door with spa = yes. */
  readonly doors: readonly string[];
  /** Networks the address to open must lie in; empty = anywhere. */
  readonly from: readonly Cidr[];
  /** ms since the epoch: the key is refused from this instant on. */
  readonly expires?: number;
  /** Upper bound for the granted duration in seconds (0/undefined = the door's cmd_timeout). */
  readonly maxTtl?: number;
  /** ms since the epoch: revoked from this instant on. */
  readonly revoked?: number;
  readonly created?: number;
  readonly comment?: string;
}

export const NAME_RE = /^[A-Za-z0-9_][A-Za-z0-9_.-]{0,63}$/;
export const DOOR_RE = /^[A-Za-z0-9_.-]{1,32}$/;
export const MAX_TTL_LIMIT = 0xffffffff;

const KNOWN = new Set(['name', 'type', 'public', 'secret', 'mac1', 'id', 'doors', 'from', 'expires', 'max_ttl', 'nat', 'revoked', 'created', 'comment']);

const DATE_RE = /^\d{4}-\d{2}-\d{2}(T\d{2}:\d{2}(:\d{2}(\.\d{1,3})?)?(Z|[+-]\d{2}:\d{2}))?$/;

/**
 * A date in a key record: ISO 8601 date (YYYY-MM-DD = 00:00 UTC that day) or date-time with a
 * zone, as formatDate writes it → ms; undefined if invalid. Stricter than what humans may type
 * (core/time-text.ts), which it uses for the calendar arithmetic.
 */
export function parseDate(s: string): number | undefined {
  return DATE_RE.test(s) ? parseInstant(s) : undefined;
}

export function formatDate(ms: number): string {
  return new Date(ms).toISOString();
}

export function parseList(s: string): string[] {
  return s.split(',').map((x) => x.trim()).filter((x) => x !== '');
}

/** Parse a record. `file` is used in messages; `expectName` (from the file name) must match. */
export function parseKeyRecord(text: string, file: string, expectName?: string): KeyRecord {
  const fail = (line: number | undefined, msg: string): never => {
    throw new AppError('ERR_KEY_FILE', `${file}${line ? `:${line}` : ''}: ${msg}`);
  };
  const lineOf = new Map<string, number>();
  const lines = text.replace(/^\uFEFF/, '').split(/\r?\n/);
  lines.forEach((raw, i) => {
    const l = raw.trim();
    if (l === '' || l.startsWith('#') || l.startsWith(';')) return;
    if (hasControl(l.replace(/\t/g, ' '))) return fail(i + 1, `holds ${describeControl(l.replace(/\t/g, ' '))}`);
    const m = /^([A-Za-z_][A-Za-z0-9_]*)\s*=(.*)$/.exec(l);
    if (!m || m[1] === undefined) return fail(i + 1, `expected 'key = value', got '${l.slice(0, 60)}'`);
    const k = m[1];
    if (!KNOWN.has(k)) return fail(i + 1, `unknown key '${k}'`);
    if (lineOf.has(k)) return fail(i + 1, `duplicate key '${k}'`);
    lineOf.set(k, i + 1);
  });
  const obj = ini.parse(text) as Record<string, unknown>;
  const get = (k: string): string | undefined => {
    const v = obj[k];
    if (v === undefined) return undefined;
    if (typeof v !== 'string') return fail(lineOf.get(k), `bad value for '${k}'`);
    return v.trim();
  };
  const bad = (k: string, v: string, why: string): never => fail(lineOf.get(k), `${k} = '${v.slice(0, 80)}': ${why}`);

  const name = get('name');
  if (name === undefined) return fail(undefined, `missing 'name'`);
  if (!NAME_RE.test(name)) return bad('name', name, 'names use [A-Za-z0-9_.-], at most 64 characters');
  if (expectName !== undefined && name !== expectName) return bad('name', name, `does not match the file name '${expectName}.key'`);
  const type = get('type');
  if (type !== 'ed25519' && type !== 'hmac') return type === undefined ? fail(undefined, `missing 'type'`) : bad('type', type, `expected 'ed25519' or 'hmac'`);

  let publicKey: Uint8Array | undefined, secret: Uint8Array | undefined, mac1Key: Uint8Array | undefined;
  const pub = get('public'), sec = get('secret'), m1 = get('mac1');
  if (type === 'ed25519') {
    if (sec !== undefined) return fail(lineOf.get('secret'), `an ed25519 record holds no secret`);
    if (pub === undefined) return fail(undefined, `missing 'public'`);
    publicKey = fromB64(pub, 32);
    if (!publicKey) return bad('public', pub, 'expected base64 of 32 bytes');
    const problem = publicKeyProblem(publicKey);
    if (problem) return bad('public', pub, `refused: ${problem}`);
    if (m1 !== undefined) {
      mac1Key = fromB64(m1, 32);
      if (!mac1Key) return fail(lineOf.get('mac1'), `mac1: expected base64 of 32 bytes`); // never echo it
    }
  } else {
    if (m1 !== undefined) return fail(lineOf.get('mac1'), `an hmac record has no mac1 key`);
    if (pub !== undefined) return fail(lineOf.get('public'), `an hmac record has no public key`);
    if (sec === undefined) return fail(undefined, `missing 'secret'`);
    secret = fromB64(sec, 32);
    if (!secret) return fail(lineOf.get('secret'), `secret: expected base64 of 32 bytes`); // never echo a secret
  }
  const id = keyIdHex(type, (publicKey ?? secret) as Uint8Array);
  const idText = get('id');
  if (idText !== undefined && idText.toLowerCase() !== id) return bad('id', idText, `does not match the key (expected ${id})`);

  const doorsText = get('doors') ?? '';
  const doors = parseList(doorsText);
  for (const d of doors) if (!DOOR_RE.test(d)) bad('doors', doorsText, `door name '${d}' must match [A-Za-z0-9_.-]{1,32}`);
  const fromText = get('from') ?? '';
  const from: Cidr[] = [];
  for (const c of parseList(fromText)) {
    const p = parseCidr(c);
    if (!p) bad('from', fromText, `'${c}' is not a network (address/prefix, host bits zero)`);
    else from.push(p);
  }
  const date = (k: string): number | undefined => {
    const v = get(k);
    if (v === undefined || v === '') return undefined;
    const t = parseDate(v);
    return t === undefined ? bad(k, v, 'expected an ISO 8601 date (2026-01-31 or 2026-01-31T12:00:00Z)') : t;
  };
  const expires = date('expires'), revoked = date('revoked'), created = date('created');
  let maxTtl: number | undefined;
  const mt = get('max_ttl');
  if (mt !== undefined && mt !== '') {
    if (!/^\d{1,10}$/.test(mt) || Number(mt) > MAX_TTL_LIMIT) bad('max_ttl', mt, 'expected seconds (a non-negative integer)');
    maxTtl = Number(mt);
  }
  const natText = get('nat');
  if (natText !== undefined && natText !== 'yes' && natText !== 'no') bad('nat', natText, `expected 'yes' or 'no'`);
  const comment = get('comment');
  return {
    name, type, id, doors, from,
    ...(publicKey ? { publicKey } : {}), ...(secret ? { secret } : {}), ...(mac1Key ? { mac1Key } : {}),
    ...(natText === 'yes' ? { nat: true } : {}),
    ...(expires !== undefined ? { expires } : {}), ...(revoked !== undefined ? { revoked } : {}),
    ...(created !== undefined ? { created } : {}), ...(maxTtl !== undefined ? { maxTtl } : {}),
    ...(comment ? { comment } : {}),
  };
}

/** Render a record as ini text (round-trips through parseKeyRecord). */
export function formatKeyRecord(r: KeyRecord): string {
  const o: Record<string, string> = { name: r.name, type: r.type, id: r.id };
  if (r.publicKey) o.public = toB64(r.publicKey);
  if (r.secret) o.secret = toB64(r.secret);
  if (r.mac1Key) o.mac1 = toB64(r.mac1Key);
  o.doors = r.doors.join(',');
  o.from = r.from.map((c) => c.text).join(',');
  if (r.expires !== undefined) o.expires = formatDate(r.expires);
  if (r.maxTtl !== undefined) o.max_ttl = String(r.maxTtl);
  if (r.nat) o.nat = 'yes';
  if (r.created !== undefined) o.created = formatDate(r.created);
  if (r.revoked !== undefined) o.revoked = formatDate(r.revoked);
  if (r.comment) o.comment = r.comment;
  const head = `# knockd-ts key record (see PROTOCOL.md). Edit with 'knockd keys'.\n`;
  return head + ini.stringify(o, { whitespace: true });
}

/** Status of a record at `now`. */
export function keyStatus(r: KeyRecord, now: number): 'active' | 'revoked' | 'expired' {
  if (r.revoked !== undefined && now >= r.revoked) return 'revoked';
  if (r.expires !== undefined && now >= r.expires) return 'expired';
  return 'active';
}
