/**
 * Client key files (PROTOCOL.md §6):
 *
 *   ~/.knock/key       knockd-ts-key v1           (mode 0600; loaders refuse group/other access)
 *                      type: ed25519 | hmac
 *                      id: <hex16>
 *                      seed: <base64 32>   (ed25519)   or   secret: <base64 32>  (hmac)
 *   ~/.knock/key.pub   knock-ed25519 <base64 32-byte public key> <comment>
 *
 * The public line is what `knockd keys add NAME PUBLIC-LINE` takes. Pure.
 */
import { AppError } from '../errors.js';
import { fromB64, keyIdHex, toB64, type KeyType } from './id.js';
import { ed25519PublicFromSeed } from './ed25519.js';

export const CLIENT_KEY_HEADER = 'knockd-ts-key v1';
export const PUBLIC_PREFIX = 'knock-ed25519';

export interface ClientKey {
  readonly type: KeyType;
  readonly id: string;
  /** ed25519: the 32-byte seed; hmac: the 32-byte secret. */
  readonly material: Uint8Array;
  /** ed25519 only. */
  readonly publicKey?: Uint8Array;
  /** Name on the server, if the file says (hmac files written by `knockd keys add --hmac`). */
  readonly name?: string;
}

export function clientKeyFromSeed(seed: Uint8Array): ClientKey {
  const publicKey = ed25519PublicFromSeed(seed);
  return { type: 'ed25519', id: keyIdHex('ed25519', publicKey), material: Uint8Array.from(seed), publicKey };
}

export function clientKeyFromSecret(secret: Uint8Array, name?: string): ClientKey {
  return { type: 'hmac', id: keyIdHex('hmac', secret), material: Uint8Array.from(secret), ...(name ? { name } : {}) };
}

export function formatClientKey(k: ClientKey, comment?: string): string {
  const lines = [CLIENT_KEY_HEADER];
  if (comment) lines.push(`# ${comment.replace(/[\r\n]/g, ' ')}`);
  lines.push(`type: ${k.type}`, `id: ${k.id}`);
  if (k.name) lines.push(`name: ${k.name}`);
  lines.push(`${k.type === 'ed25519' ? 'seed' : 'secret'}: ${toB64(k.material)}`);
  return lines.join('\n') + '\n';
}

export function parseClientKey(text: string, file: string): ClientKey {
  const fail = (line: number | undefined, msg: string): never => {
    throw new AppError('ERR_KEY_FILE', `${file}${line ? `:${line}` : ''}: ${msg}`);
  };
  const lines = text.split(/\r?\n/);
  if ((lines[0] ?? '').trim() !== CLIENT_KEY_HEADER) fail(1, `not a knockd-ts key file (expected '${CLIENT_KEY_HEADER}')`);
  const f = new Map<string, { v: string; line: number }>();
  for (let i = 1; i < lines.length; i++) {
    const l = (lines[i] ?? '').trim();
    if (l === '' || l.startsWith('#')) continue;
    const m = /^([a-z]+):\s*(\S+)$/.exec(l);
    if (!m || m[1] === undefined || m[2] === undefined) return fail(i + 1, `expected 'field: value'`);
    if (!['type', 'id', 'seed', 'secret', 'name'].includes(m[1])) return fail(i + 1, `unknown field '${m[1]}'`);
    if (f.has(m[1])) return fail(i + 1, `duplicate field '${m[1]}'`);
    f.set(m[1], { v: m[2], line: i + 1 });
  }
  const type = f.get('type');
  if (!type || (type.v !== 'ed25519' && type.v !== 'hmac')) return fail(type?.line, `type must be ed25519 or hmac`);
  const field = type.v === 'ed25519' ? 'seed' : 'secret';
  const mat = f.get(field);
  if (!mat) return fail(undefined, `missing '${field}'`);
  const bytes = fromB64(mat.v, 32);
  if (!bytes) return fail(mat.line, `${field}: expected base64 of 32 bytes`);
  const name = f.get('name')?.v;
  const k = type.v === 'ed25519' ? clientKeyFromSeed(bytes) : clientKeyFromSecret(bytes, name);
  const id = f.get('id');
  if (id && id.v.toLowerCase() !== k.id) fail(id.line, `id ${id.v} does not match the key (${k.id})`);
  return k;
}

export function formatPublicLine(publicKey: Uint8Array, comment?: string): string {
  const c = (comment ?? '').replace(/\s+/g, '_');
  return `${PUBLIC_PREFIX} ${toB64(publicKey)}${c ? ` ${c}` : ''}`;
}

/** Parse `knock-ed25519 <b64> [comment]`. Throws ERR_USAGE-free AppError('ERR_KEY_FILE'). */
export function parsePublicLine(line: string, where = 'public key'): { publicKey: Uint8Array; comment?: string } {
  const parts = line.trim().split(/\s+/);
  if (parts[0] !== PUBLIC_PREFIX || parts[1] === undefined) {
    throw new AppError('ERR_KEY_FILE', `${where}: expected '${PUBLIC_PREFIX} <base64 key> [comment]'`);
  }
  const publicKey = fromB64(parts[1], 32);
  if (!publicKey) throw new AppError('ERR_KEY_FILE', `${where}: '${parts[1].slice(0, 60)}' is not base64 of 32 bytes`);
  const comment = parts.slice(2).join(' ');
  return { publicKey, ...(comment ? { comment } : {}) };
}
