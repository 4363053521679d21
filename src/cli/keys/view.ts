/**
 * Human output of `knockd keys list` and `keys show`. Every value from a record goes through
 * core/text.ts printable(), so a record cannot put control sequences on the admin's terminal
 * (records holding them are refused on load as well). Secrets and mac1 keys are never shown.
 */
import { formatPublicLine, formatSharedLine } from '../../core/keys/client.js';
import { formatDate, keyStatus, type KeyRecord } from '../../core/keys/record.js';
import { printable } from '../../core/text.js';
import { formatSeconds } from '../../core/time-text.js';
import type { RefusedFile } from '../../io/keystore.js';
import { versionsOf } from './fields.js';

const p = (s: string, max = 200): string => printable(s, max);

export function describeRecord(r: KeyRecord, now: number): string[] {
  const lines = [
    `name:     ${p(r.name)}`,
    `type:     ${r.type}`,
    `id:       ${r.id}`,
    `requests: ${versionsOf(r)}`,
  ];
  if (r.publicKey) lines.push(`public:   ${p(r.mac1Key ? formatSharedLine(r.publicKey, r.comment) : formatPublicLine(r.publicKey, r.comment), 400)}`);
  if (r.mac1Key) lines.push(`mac1:     (enrolled v2 mac1 key, never shown)`);
  if (r.secret) lines.push(`secret:   (stored in the record, never shown)`);
  lines.push(
    `status:   ${keyStatus(r, now)}`,
    `doors:    ${r.doors.length ? p(r.doors.join(',')) : '(all spa doors)'}`,
    `from:     ${r.from.length ? r.from.map((c) => c.text).join(',') : '(anywhere)'}`,
    `expires:  ${r.expires !== undefined ? formatDate(r.expires) : 'never'}`,
    `max_ttl:  ${r.maxTtl ? `${r.maxTtl}s (${formatSeconds(r.maxTtl)})` : '(door cmd_timeout)'}`,
    `nat:      ${r.nat ? 'yes (a request may ask to open the address its packet comes from)' : 'no'}`,
  );
  if (r.created !== undefined) lines.push(`created:  ${formatDate(r.created)}`);
  if (r.revoked !== undefined) lines.push(`revoked:  ${formatDate(r.revoked)}`);
  if (r.comment) lines.push(`comment:  ${p(r.comment)}`);
  return lines;
}

export function renderList(ks: readonly KeyRecord[], now: number): string {
  const rows = [['NAME', 'TYPE', 'ID', 'REQ', 'STATUS', 'DOORS', 'FROM', 'NAT', 'EXPIRES']];
  for (const r of ks) {
    rows.push([p(r.name, 64), r.type, r.id, versionsOf(r), keyStatus(r, now), p(r.doors.join(','), 80) || '*',
      r.from.map((c) => c.text).join(',') || '*', r.nat ? 'yes' : 'no', r.expires !== undefined ? formatDate(r.expires) : 'never']);
  }
  const w = (rows[0] as string[]).map((_, i) => Math.max(...rows.map((r) => (r[i] ?? '').length)));
  return rows.map((r) => r.map((c, i) => (i === r.length - 1 ? c : c.padEnd(w[i] ?? 0))).join('  ') + '\n').join('');
}

export function refusedWarnings(refused: readonly (RefusedFile | { file: string; error: string })[], who = ''): string {
  return refused.map((r) => {
    const path = 'path' in r ? r.path : r.file;
    const text = r.error.includes(path) ? r.error : `${path}: ${r.error}`;
    return `warning: ${who}refused: ${p(text, 500)}\n`;
  }).join('');
}
