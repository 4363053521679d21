/**
 * Strict knock-sequence syntax for `sequence =`, `ports =` and one-time-sequence lines:
 *
 *   sequence := item ( "," item )*      at most 32 items
 *   item     := blanks port [ blanks ":" blanks proto ] blanks
 *   port     := decimal digits, 1..65535          proto := tcp | udp (any case), default tcp
 *
 * Everything knockd 0.8 accepts with the same meaning is accepted (blanks around items and
 * around ':' , protocol in any case, leading zeros). Everything knockd reads with a
 * surprising meaning (empty item = port 0, `-1` = 65535, `70x` = 70, `7000/udp` = 7000/tcp,
 * a third ':' field ignored) is refused with a reason. Pure, never throws.
 */
import type { Hit } from './types.js';
import type { Proto } from '../types.js';
import { MAX_SEQUENCE } from './types.js';
import { cAtoi, cTrim } from './catoi.js';

export type SequenceResult = { ok: true; hits: Hit[] } | { ok: false; error: string };

const q = (s: string): string => JSON.stringify(s);

export function parseSequence(text: string): SequenceResult {
  if (typeof text !== 'string') return { ok: false, error: 'not a string' };
  const whole = cTrim(text);
  if (whole === '') {
    return { ok: false, error: 'empty knock sequence (knockd would knock port 0/tcp)' };
  }
  const items = whole.split(',');
  if (items.length > MAX_SEQUENCE) {
    return { ok: false, error: `${items.length} items, at most ${MAX_SEQUENCE} are allowed` };
  }
  const hits: Hit[] = [];
  for (let i = 0; i < items.length; i++) {
    const raw = items[i] ?? '';
    const item = cTrim(raw);
    const where = `item ${i + 1}`;
    if (item === '') {
      return { ok: false, error: `${where} is empty (a stray ','; knockd would knock port 0)` };
    }
    const fields = item.split(':');
    if (fields.length > 2) {
      return { ok: false, error: `${where} ${q(item)} has more than one ':' (knockd ignores the third field; write PORT:tcp or PORT:udp)` };
    }
    const portText = cTrim(fields[0] ?? '');
    if (!/^[0-9]+$/.test(portText)) {
      const k = cAtoi(portText);
      const knockd = k > 65535 ? 'knockd rejects it too' : `knockd would read port ${k & 0xffff}`;
      return { ok: false, error: `${where} ${q(item)}: port ${q(portText)} is not a decimal number 1..65535 (${knockd})` };
    }
    const digits = portText.replace(/^0+(?=\d)/, '');
    const port = digits.length > 5 ? 65536 : Number(digits);
    if (port === 0) return { ok: false, error: `${where} ${q(item)}: port 0 cannot be knocked (use 1..65535)` };
    if (port > 65535) return { ok: false, error: `${where} ${q(item)}: port ${portText} is out of range (use 1..65535)` };
    let proto: Proto = 'tcp';
    if (fields.length === 2) {
      const p = cTrim(fields[1] ?? '').toLowerCase();
      if (p === 'tcp' || p === 'udp') proto = p;
      else return { ok: false, error: `${where} ${q(item)}: unknown protocol ${q(cTrim(fields[1] ?? ''))} (use tcp or udp)` };
    }
    hits.push({ port, proto });
  }
  return { ok: true, hits };
}

/** knockd's debug rendering: `7000:tcp,8000:udp,9000:tcp`. */
export function formatSequence(hits: readonly Hit[]): string {
  return hits.map((h) => `${h.port}:${h.proto}`).join(',');
}
