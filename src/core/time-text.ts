/**
 * The one syntax for durations and points in time, everywhere a human types one
 * (`knockd keys add --expires`, `keys set`, `audit --since/--until`, client profiles):
 *
 *   duration  N followed by s, m, h, d or w: 30s, 15m, 1h, 7d, 1w (N a whole number)
 *   instant   an ISO 8601 date (2026-01-31 = 00:00 UTC), or date-time
 *             (2026-01-31T12:00, 2026-01-31T12:00:00.5Z, 2026-01-31 12:00+02:00);
 *             without an offset it is UTC, so results do not depend on the machine's zone
 *   relative  a duration, counted back from now (`past`) or forward (`future`); or `now`
 *
 * Pure: `now` is passed in. Parsers return undefined for anything else; the callers turn that
 * into an error naming the option and the value (TIME_SYNTAX says what is accepted).
 */

export const UNIT_MS: Readonly<Record<string, number>> = { s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000, w: 604_800_000 };

export const TIME_SYNTAX = 'a duration (30s, 15m, 2h, 7d, 1w) or an ISO date such as 2026-05-01 or 2026-05-01T12:00:00Z';

/** `30s` … `1w` → milliseconds; undefined otherwise. */
export function parseDuration(text: string): number | undefined {
  const m = /^(\d{1,9})([smhdw])$/.exec(text.trim());
  if (!m || m[1] === undefined || m[2] === undefined) return undefined;
  return Number(m[1]) * (UNIT_MS[m[2]] as number);
}

const ISO = /^(\d{4})-(\d{2})-(\d{2})(?:[T ](\d{2}):(\d{2})(?::(\d{2})(?:\.(\d{1,3}))?)?(Z|[+-]\d{2}:?\d{2})?)?$/;

/** ISO 8601 date or date-time → ms since the epoch; dates that do not exist (02-30) are refused. */
export function parseInstant(text: string): number | undefined {
  const iso = ISO.exec(text.trim());
  if (!iso) return undefined;
  const [, y, mo, d, h = '00', mi = '00', sec = '00', frac = '', zone = 'Z'] = iso;
  const f = [y, mo, d, h, mi, sec].map(Number) as [number, number, number, number, number, number];
  const v = Date.UTC(f[0], f[1] - 1, f[2], f[3], f[4], f[5], Number(frac.padEnd(3, '0')));
  const back = new Date(v);
  // Date.UTC rolls 2024-02-31 over to March: refuse what does not round-trip
  const valid = back.getUTCFullYear() === f[0] && back.getUTCMonth() === f[1] - 1 && back.getUTCDate() === f[2]
    && back.getUTCHours() === f[3] && back.getUTCMinutes() === f[4] && back.getUTCSeconds() === f[5];
  if (!valid) return undefined;
  let offsetMin = 0;
  if (zone !== 'Z') {
    const z = /^([+-])(\d{2}):?(\d{2})$/.exec(zone);
    if (!z) return undefined;
    offsetMin = (z[1] === '-' ? -1 : 1) * (Number(z[2]) * 60 + Number(z[3]));
    if (Math.abs(offsetMin) > 18 * 60) return undefined;
  }
  return v - offsetMin * 60_000;
}

/** A relative time (duration before/after `now`), `now`, or an instant; undefined otherwise. */
export function parseWhen(text: string, now: number, direction: 'past' | 'future'): number | undefined {
  const t = text.trim();
  if (t === 'now') return now;
  const d = parseDuration(t);
  if (d !== undefined) return direction === 'past' ? now - d : now + d;
  return parseInstant(t);
}

/** 90 → "1m30s", 86400 → "1d"; seconds, for messages. */
export function formatSeconds(total: number): string {
  if (!Number.isFinite(total)) return String(total);
  let s = Math.round(Math.abs(total));
  const parts: string[] = [];
  for (const [u, n] of [['d', 86400], ['h', 3600], ['m', 60]] as const) {
    if (s >= n) { parts.push(`${Math.floor(s / n)}${u}`); s %= n; }
  }
  if (s > 0 || parts.length === 0) parts.push(`${s}s`);
  return `${total < 0 ? '-' : ''}${parts.join('')}`;
}
