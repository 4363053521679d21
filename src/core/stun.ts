/**
 * STUN binding (RFC 8489) as `knock --allow-ip auto` uses it: the 20-byte Binding request, and
 * the parse of the answer down to the one field we need, the mapped (public) address.
 *
 *   header  0 type (2) | 2 length (2, bytes after the header, multiple of 4)
 *           4 magic cookie 0x2112A442 (4) | 8 transaction id (12)
 *   attr    type (2) | length (2) | value (length, padded to 4)
 *   XOR-MAPPED-ADDRESS 0x0020 / MAPPED-ADDRESS 0x0001:
 *           0 reserved (1) | 1 family 0x01 IPv4, 0x02 IPv6 (1) | 2 port (2) | 4 address (4 / 16)
 *           XOR form: port ^ 0x2112, address ^ (cookie || transaction id)
 *
 * The answer comes from the network: parseBindingResponse() never throws, reads only inside
 * the datagram, and reports why it refused one. Pure: no sockets, no clock, no randomness.
 */
import { ipFromBytes, type Ip } from './ip.js';

export const STUN_HEADER_LEN = 20;
export const MAGIC_COOKIE = 0x2112a442;
export const BINDING_REQUEST = 0x0001;
export const BINDING_SUCCESS = 0x0101;
export const BINDING_ERROR = 0x0111;
export const ATTR_MAPPED_ADDRESS = 0x0001;
export const ATTR_XOR_MAPPED_ADDRESS = 0x0020;
export const ATTR_ERROR_CODE = 0x0009;
export const TXID_LEN = 12;
/** Largest answer we look at (RFC 8489 §6.1: messages fit a 576-byte path; servers add little). */
export const MAX_RESPONSE_LEN = 1280;

export type StunRefusal =
  | 'short' | 'too-long' | 'not-stun' | 'bad-cookie' | 'wrong-transaction' | 'bad-length'
  | 'not-binding-response' | 'error-response' | 'bad-attribute' | 'no-address' | 'bad-address';

export type StunResult =
  | { readonly ok: true; readonly ip: Ip; readonly port: number; readonly via: 'xor-mapped' | 'mapped' }
  | { readonly ok: false; readonly reason: StunRefusal; readonly detail?: string };

/** The Binding request: type 0x0001, length 0, cookie, the caller's 12 random bytes. */
export function encodeBindingRequest(txid: Uint8Array): Uint8Array {
  if (txid.length !== TXID_LEN) throw new RangeError('STUN transaction id must be 12 bytes');
  const b = new Uint8Array(STUN_HEADER_LEN);
  const dv = new DataView(b.buffer);
  dv.setUint16(0, BINDING_REQUEST);
  dv.setUint16(2, 0);
  dv.setUint32(4, MAGIC_COOKIE);
  b.set(txid, 8);
  return b;
}

function sameTxid(b: Uint8Array, txid: Uint8Array): boolean {
  let diff = 0;
  for (let i = 0; i < TXID_LEN; i++) diff |= (b[8 + i] ?? 0) ^ (txid[i] ?? 0);
  return diff === 0 && txid.length === TXID_LEN;
}

/** Decode one (XOR-)MAPPED-ADDRESS value; `mask` is cookie||txid for the XOR form, undefined otherwise. */
function decodeAddress(v: Uint8Array, mask: Uint8Array | undefined): { ip: Ip; port: number } | undefined {
  if (v.length < 4) return undefined;
  const family = v[1];
  const alen = family === 0x01 ? 4 : family === 0x02 ? 16 : 0;
  if (alen === 0 || v.length !== 4 + alen) return undefined;
  let port = ((v[2] ?? 0) << 8) | (v[3] ?? 0);
  const addr = new Uint8Array(alen);
  for (let i = 0; i < alen; i++) addr[i] = (v[4 + i] ?? 0) ^ (mask ? (mask[i] ?? 0) : 0);
  if (mask) port ^= MAGIC_COOKIE >>> 16;
  const ip = ipFromBytes(addr);
  return ip ? { ip, port } : undefined;
}

/**
 * Parse a datagram that claims to answer our Binding request with transaction id `txid`.
 * XOR-MAPPED-ADDRESS wins; MAPPED-ADDRESS (RFC 3489 servers) is the fallback.
 */
export function parseBindingResponse(b: Uint8Array, txid: Uint8Array): StunResult {
  if (b.length < STUN_HEADER_LEN) return { ok: false, reason: 'short' };
  if (b.length > MAX_RESPONSE_LEN) return { ok: false, reason: 'too-long' };
  const dv = new DataView(b.buffer, b.byteOffset, b.byteLength);
  const type = dv.getUint16(0);
  if ((type & 0xc000) !== 0) return { ok: false, reason: 'not-stun' };
  if (dv.getUint32(4) !== MAGIC_COOKIE) return { ok: false, reason: 'bad-cookie' };
  if (!sameTxid(b, txid)) return { ok: false, reason: 'wrong-transaction' };
  const len = dv.getUint16(2);
  if (len % 4 !== 0 || STUN_HEADER_LEN + len !== b.length) return { ok: false, reason: 'bad-length', detail: `header says ${len}, datagram has ${b.length - STUN_HEADER_LEN}` };
  if (type === BINDING_ERROR) return { ok: false, reason: 'error-response', detail: errorCodeText(b) };
  if (type !== BINDING_SUCCESS) return { ok: false, reason: 'not-binding-response', detail: `type 0x${type.toString(16).padStart(4, '0')}` };

  const mask = b.subarray(4, STUN_HEADER_LEN); // cookie || transaction id, 16 bytes
  let xor: Uint8Array | undefined, plain: Uint8Array | undefined;
  for (let off = STUN_HEADER_LEN; off < b.length;) {
    if (off + 4 > b.length) return { ok: false, reason: 'bad-attribute', detail: `truncated attribute header at ${off}` };
    const at = dv.getUint16(off), al = dv.getUint16(off + 2);
    const end = off + 4 + al;
    if (end > b.length) return { ok: false, reason: 'bad-attribute', detail: `attribute 0x${at.toString(16)} overruns the message` };
    if (at === ATTR_XOR_MAPPED_ADDRESS && !xor) xor = b.subarray(off + 4, end);
    else if (at === ATTR_MAPPED_ADDRESS && !plain) plain = b.subarray(off + 4, end);
    off = end + ((4 - (al % 4)) % 4);
  }
  if (xor) {
    const a = decodeAddress(xor, mask);
    return a ? { ok: true, ...a, via: 'xor-mapped' } : { ok: false, reason: 'bad-address', detail: 'XOR-MAPPED-ADDRESS' };
  }
  if (plain) {
    const a = decodeAddress(plain, undefined);
    return a ? { ok: true, ...a, via: 'mapped' } : { ok: false, reason: 'bad-address', detail: 'MAPPED-ADDRESS' };
  }
  return { ok: false, reason: 'no-address' };
}

/** "401 Unauthorized"-style text of an ERROR-CODE attribute, printable ASCII only, bounded. */
function errorCodeText(b: Uint8Array): string {
  const dv = new DataView(b.buffer, b.byteOffset, b.byteLength);
  for (let off = STUN_HEADER_LEN; off + 4 <= b.length;) {
    const at = dv.getUint16(off), al = dv.getUint16(off + 2);
    if (off + 4 + al > b.length) break;
    if (at === ATTR_ERROR_CODE && al >= 4) {
      const code = ((b[off + 6] ?? 0) & 0x07) * 100 + (b[off + 7] ?? 0);
      let reason = '';
      for (let i = off + 8; i < off + 4 + al && reason.length < 80; i++) {
        const c = b[i] ?? 0;
        reason += c >= 0x20 && c < 0x7f ? String.fromCharCode(c) : '?';
      }
      return `${code}${reason ? ` ${reason}` : ''}`;
    }
    off += 4 + al + ((4 - (al % 4)) % 4);
  }
  return 'no ERROR-CODE';
}

export interface StunServer { readonly host: string; readonly port: number }
export const STUN_DEFAULT_PORT = 3478;

/**
 * `host`, `host:port`, `IPv4:port`, `IPv6` or `[IPv6]:port` → server; undefined when malformed.
 * Host names are limited to letters, digits, '.', '-' and '_'.
 */
export function parseStunServer(text: string): StunServer | undefined {
  const t = text.trim();
  let host: string, port = STUN_DEFAULT_PORT;
  const br = /^\[([0-9A-Fa-f:.]+)\](?::(\d{1,5}))?$/.exec(t);
  if (br) {
    host = br[1] as string;
    if (br[2] !== undefined) port = Number(br[2]);
  } else if ((t.match(/:/g) ?? []).length > 1) {
    host = t; // bare IPv6, default port
    if (!/^[0-9A-Fa-f:.]+$/.test(host)) return undefined;
  } else {
    const m = /^([A-Za-z0-9._-]{1,253})(?::(\d{1,5}))?$/.exec(t);
    if (!m) return undefined;
    host = m[1] as string;
    if (m[2] !== undefined) port = Number(m[2]);
  }
  if (port < 1 || port > 65535) return undefined;
  return { host, port };
}

/** A comma-separated list of servers (at most `max`); undefined if any entry is malformed. */
export function parseStunList(text: string, max = 8): StunServer[] | undefined {
  const parts = text.split(',').map((s) => s.trim()).filter((s) => s !== '');
  if (parts.length === 0 || parts.length > max) return undefined;
  const out: StunServer[] = [];
  for (const p of parts) {
    const s = parseStunServer(p);
    if (!s) return undefined;
    out.push(s);
  }
  return out;
}
