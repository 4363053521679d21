/**
 * Client key files and public lines (PROTOCOL.md §6):
 *
 *   ~/.knock/key        knockd-ts-key v2           (mode 0600; loaders refuse group/other access)
 *                       type: ed25519 | hmac
 *                       id: <hex16>
 *                       seed: <base64 32>   (ed25519)   or   secret: <base64 32>  (hmac)
 *                       The header's version is the SPA request version the key signs:
 *                       `knockd-ts-key v1` files (made before v2) keep signing v1.
 *   ~/.knock/key.enrol  knock-ed25519-v2 <base64 public key> <base64 mac1 key> <comment>
 *                       what the administrator enrols (`knockd keys add NAME LINE`); the mac1
 *                       key in it lets its holder reach the server's signature check, so it is
 *                       handed to the administrator only
 *   ~/.knock/key.pub    knock-ed25519-pub <base64 public key> <comment>
 *                       shareable: it identifies the key and cannot be enrolled
 *
 * A v1 key's public line `knock-ed25519 <base64 public key> <comment>` is both its public
 * and its enrolment line (records enrolled from it accept v1 requests). Pure.
 */
import { AppError } from '../errors.js';
import { describeControl, hasControl } from '../text.js';
import { fromB64, keyIdHex, mac1KeyV2, toB64, type KeyType } from './id.js';
import type { KeyObject } from 'node:crypto';
import { ed25519PrivateKey, ed25519PublicKey } from './ed25519.js';
import { ed25519KeyProblem, POINT_PROBLEM_TEXT, weakEncodingProblem } from './ed25519-point.js';

export const CLIENT_KEY_HEADER = 'knockd-ts-key v1';
export const CLIENT_KEY_HEADER_V2 = 'knockd-ts-key v2';
/** v1 public and enrolment line. */
export const PUBLIC_PREFIX = 'knock-ed25519';
/** v2 enrolment line: public key and mac1 key. */
export const ENROL_PREFIX_V2 = 'knock-ed25519-v2';
/** v2 shareable public line: public key only, never enrolled. */
export const SHARE_PREFIX_V2 = 'knock-ed25519-pub';

export type SpaVersion = 1 | 2;

export interface ClientKey {
  readonly type: KeyType;
  readonly id: string;
  /** ed25519: the 32-byte seed; hmac: the 32-byte secret. */
  readonly material: Uint8Array;
  /** ed25519 only. */
  readonly publicKey?: Uint8Array;
  /**
   * ed25519 only: node:crypto's key object for the seed, made once when the key is loaded (the
   * public key is derived from it) and used by the signer (core/spa/sign.ts).
   */
  readonly privateKey?: KeyObject;
  /** ed25519 v2 only: the mac1 key enrolled with the public key (derived from the seed). */
  readonly mac1Key?: Uint8Array;
  /** The request version this key signs (the key file's header). */
  readonly spaVersion: SpaVersion;
  /** Name on the server, if the file says (hmac files written by `knockd keys add --hmac`). */
  readonly name?: string;
}

export function clientKeyFromSeed(seed: Uint8Array, spaVersion: SpaVersion = 2): ClientKey {
  const privateKey = ed25519PrivateKey(seed);
  const publicKey = ed25519PublicKey(privateKey);
  return {
    type: 'ed25519', id: keyIdHex('ed25519', publicKey), material: Uint8Array.from(seed), publicKey, privateKey, spaVersion,
    ...(spaVersion === 2 ? { mac1Key: mac1KeyV2(seed) } : {}),
  };
}

export function clientKeyFromSecret(secret: Uint8Array, name?: string, spaVersion: SpaVersion = 2): ClientKey {
  return { type: 'hmac', id: keyIdHex('hmac', secret), material: Uint8Array.from(secret), spaVersion, ...(name ? { name } : {}) };
}

export function formatClientKey(k: ClientKey, comment?: string): string {
  const lines = [k.spaVersion === 2 ? CLIENT_KEY_HEADER_V2 : CLIENT_KEY_HEADER];
  if (comment) lines.push(`# ${comment.replace(/[\r\n]/g, ' ')}`);
  lines.push(`type: ${k.type}`, `id: ${k.id}`);
  if (k.name) lines.push(`name: ${k.name}`);
  lines.push(`${k.type === 'ed25519' ? 'seed' : 'secret'}: ${toB64(k.material)}`);
  return lines.join('\n') + '\n';
}

/**
 * `name: value` as /^([a-z]+):\s*(\S+)$/ reads it: a lower-case name, a colon, optional white
 * space, one word. Written out: the expression's first use cost a fresh knock ~0.1 ms.
 * (`c.trim() === ''` holds exactly for the characters \s matches.)
 */
export function fieldLine(l: string): { name: string; value: string } | undefined {
  const colon = l.indexOf(':');
  if (colon < 1) return undefined;
  for (let i = 0; i < colon; i++) { const c = l.charCodeAt(i); if (c < 97 || c > 122) return undefined; }
  const value = l.slice(colon + 1).trimStart();
  if (value === '') return undefined;
  for (let i = 0; i < value.length; i++) if ((value[i] as string).trim() === '') return undefined;
  return { name: l.slice(0, colon), value };
}

export function parseClientKey(text: string, file: string): ClientKey {
  const fail = (line: number | undefined, msg: string): never => {
    throw new AppError('ERR_KEY_FILE', `${file}${line ? `:${line}` : ''}: ${msg}`);
  };
  const lines = text.split('\n');   // lines are trimmed below, CR included (a split by regular expression cost ~0.1 ms)
  const head = (lines[0] ?? '').trim();
  if (head !== CLIENT_KEY_HEADER && head !== CLIENT_KEY_HEADER_V2) fail(1, `not a knockd-ts key file (expected '${CLIENT_KEY_HEADER_V2}')`);
  const spaVersion: SpaVersion = head === CLIENT_KEY_HEADER_V2 ? 2 : 1;
  const f = new Map<string, { v: string; line: number }>();
  for (let i = 1; i < lines.length; i++) {
    const l = (lines[i] ?? '').trim();
    if (l === '' || l.startsWith('#')) continue;
    const m = fieldLine(l);
    if (!m) return fail(i + 1, `expected 'field: value'`);
    if (!['type', 'id', 'seed', 'secret', 'name'].includes(m.name)) return fail(i + 1, `unknown field '${m.name}'`);
    if (f.has(m.name)) return fail(i + 1, `duplicate field '${m.name}'`);
    f.set(m.name, { v: m.value, line: i + 1 });
  }
  const type = f.get('type');
  if (!type || (type.v !== 'ed25519' && type.v !== 'hmac')) return fail(type?.line, `type must be ed25519 or hmac`);
  const field = type.v === 'ed25519' ? 'seed' : 'secret';
  const mat = f.get(field);
  if (!mat) return fail(undefined, `missing '${field}'`);
  const bytes = fromB64(mat.v, 32);
  if (!bytes) return fail(mat.line, `${field}: expected base64 of 32 bytes`);
  const name = f.get('name');
  if (name && hasControl(name.v)) fail(name.line, `name holds ${describeControl(name.v)}`);
  const k = type.v === 'ed25519' ? clientKeyFromSeed(bytes, spaVersion) : clientKeyFromSecret(bytes, name?.v, spaVersion);
  const id = f.get('id');
  if (id && id.v.toLowerCase() !== k.id) fail(id.line, `id ${id.v} does not match the key (${k.id})`);
  return k;
}

const commentText = (comment?: string): string => {
  const c = (comment ?? '').replace(/\s+/g, '_');
  return c ? ` ${c}` : '';
};

/** v1: `knock-ed25519 <b64> [comment]` (public and enrolment line of a v1 key). */
export function formatPublicLine(publicKey: Uint8Array, comment?: string): string {
  return `${PUBLIC_PREFIX} ${toB64(publicKey)}${commentText(comment)}`;
}

/** v2 enrolment line: `knock-ed25519-v2 <b64 public> <b64 mac1 key> [comment]`. */
export function formatEnrolLine(publicKey: Uint8Array, mac1Key: Uint8Array, comment?: string): string {
  return `${ENROL_PREFIX_V2} ${toB64(publicKey)} ${toB64(mac1Key)}${commentText(comment)}`;
}

/** v2 shareable public line: `knock-ed25519-pub <b64 public> [comment]`. */
export function formatSharedLine(publicKey: Uint8Array, comment?: string): string {
  return `${SHARE_PREFIX_V2} ${toB64(publicKey)}${commentText(comment)}`;
}

/**
 * The problem with an Ed25519 public key, as a message fragment, or undefined when acceptable.
 * `full` (enrolment) also decodes the point; without it (loading records, every reload) only the
 * cheap test runs, which refuses every key a signature can be forged for.
 */
export function publicKeyProblem(pub: Uint8Array, full = false): string | undefined {
  const p = full ? ed25519KeyProblem(pub) : weakEncodingProblem(pub);
  return p === undefined ? undefined : `the public key is ${POINT_PROBLEM_TEXT[p]}`;
}

export interface ParsedPublicLine {
  readonly publicKey: Uint8Array;
  /** v2 enrolment lines only. */
  readonly mac1Key?: Uint8Array;
  /** Request version a record enrolled from this line accepts. */
  readonly version: SpaVersion;
  readonly comment?: string;
}

/**
 * Parse an enrolment line: `knock-ed25519-v2 <b64> <b64 mac1> [comment]` or the v1
 * `knock-ed25519 <b64> [comment]`. The shareable `knock-ed25519-pub` line is refused (it has no
 * mac1 key), as are weak public keys and comments holding control characters. AppError('ERR_KEY_FILE').
 */
export function parsePublicLine(line: string, where = 'public key'): ParsedPublicLine {
  const fail = (msg: string): never => { throw new AppError('ERR_KEY_FILE', `${where}: ${msg}`); };
  const parts = line.trim().split(/[ \t]+/);
  const prefix = parts[0];
  if (prefix === SHARE_PREFIX_V2) {
    fail(`this is the shareable public line of a v2 key, which cannot be enrolled; enrol the line from the user's key.enrol file ('${ENROL_PREFIX_V2} ...', printed by 'knock --keygen')`);
  }
  if ((prefix !== PUBLIC_PREFIX && prefix !== ENROL_PREFIX_V2) || parts[1] === undefined) {
    fail(`expected '${ENROL_PREFIX_V2} <base64 key> <base64 mac1 key> [comment]' or '${PUBLIC_PREFIX} <base64 key> [comment]'`);
  }
  const b64 = parts[1] as string;
  const publicKey = fromB64(b64, 32) ?? fail(`'${b64.slice(0, 60)}' is not base64 of 32 bytes`);
  const problem = publicKeyProblem(publicKey, true);
  if (problem) fail(`refused: ${problem}`);
  let mac1Key: Uint8Array | undefined;
  let rest = parts.slice(2);
  if (prefix === ENROL_PREFIX_V2) {
    const m = parts[2];
    mac1Key = (m === undefined ? undefined : fromB64(m, 32)) ?? fail(`the mac1 key (third field) must be base64 of 32 bytes`);
    rest = parts.slice(3);
  }
  const comment = rest.join(' ');
  if (hasControl(comment)) fail(`the comment holds ${describeControl(comment)}`);
  return { publicKey, version: mac1Key ? 2 : 1, ...(mac1Key ? { mac1Key } : {}), ...(comment ? { comment } : {}) };
}
