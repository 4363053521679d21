/**
 * Human and JSON output of `knockd audit` (and the shared table, time and text helpers that
 * `knockd status` uses). Everything that reaches a terminal goes through clean(). Pure.
 */
import type { AuditPrincipal } from './records.js';
import type { AuditReport, Session } from './report.js';
import { printable } from '../text.js';
import { renderKeyChanges } from './key-changes.js';

// Rendering

/** The log is not trusted text: control characters become visible escapes, long values are cut (core/text.ts). */
export function clean(s: string, max = 64): string {
  return printable(s, max);
}

const pad2 = (n: number) => String(n).padStart(2, '0');

/** `2024-05-01 12:00:03Z` */
export function formatTime(ms: number): string {
  const d = new Date(ms);
  if (!Number.isFinite(d.getTime())) return '?';
  return `${d.getUTCFullYear()}-${pad2(d.getUTCMonth() + 1)}-${pad2(d.getUTCDate())} ${pad2(d.getUTCHours())}:${pad2(d.getUTCMinutes())}:${pad2(d.getUTCSeconds())}Z`;
}

/** `45s`, `12m05s`, `3h02m`, `2d04h` */
export function formatDuration(ms: number): string {
  const s = Math.floor(Math.max(0, ms) / 1000);
  if (s < 60) return `${s}s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m}m${pad2(s % 60)}s`;
  const h = Math.floor(m / 60);
  if (h < 24) return `${h}h${pad2(m % 60)}m`;
  return `${Math.floor(h / 24)}d${pad2(h % 24)}h`;
}

export function principalLabel(p: AuditPrincipal | undefined): string {
  if (!p) return '?';
  if (p.kind === 'sequence') return '(sequence)';
  return p.key !== '' ? p.key : `key:${p.keyId}`;
}

/** Fixed column order of the sessions table. */
export const SESSION_COLUMNS = ['OPENED', 'DOOR', 'PRINCIPAL', 'FROM', 'ADDRESS', 'DURATION', 'CLOSED', 'RESULT'] as const;

function sessionResult(s: Session): string {
  const notes: string[] = [];
  switch (s.status) {
    case 'closed': notes.push(`closed:${s.closeReason ?? '?'}`); if (s.closeExitCode !== undefined && s.closeExitCode !== 0) notes.push(`stop-exit=${s.closeExitCode}`); break;
    case 'failed': notes.push(`start-failed${s.exitCode !== undefined ? `:exit=${s.exitCode}` : ''}`); break;
    case 'once': notes.push('no-stop-command'); break;
    case 'open': notes.push(s.expiresAt !== undefined ? `open (until ${formatTime(s.expiresAt).slice(11)})` : 'open'); break;
    case 'overdue': notes.push('OVERDUE: no close recorded'); break;
  }
  if (s.extensions > 0) notes.push(`extended x${s.extensions}`);
  if (s.rearms > 0) notes.push(`rearmed x${s.rearms}`);
  if (s.stopFailures > 0) notes.push(`stop-failed x${s.stopFailures}`);
  return notes.join(', ');
}

export function sessionRow(s: Session): string[] {
  return [
    s.openedAt !== undefined ? formatTime(s.openedAt) : '?',
    clean(s.door || '?', 32),
    clean(principalLabel(s.principal), 32),
    clean(s.src ?? '-', 45),
    clean(s.ip ?? '-', 45),
    s.durationMs !== undefined ? formatDuration(s.durationMs) + (s.status === 'open' || s.status === 'overdue' ? '+' : '') : '-',
    s.closedAt !== undefined ? formatTime(s.closedAt) : '-',
    clean(sessionResult(s), 80),
  ];
}

/** Align columns: every column as wide as its widest cell; two spaces between columns. */
export function renderTable(header: readonly string[], rows: readonly (readonly string[])[]): string {
  const w = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: readonly string[]) =>
    cells.map((c, i) => (i === cells.length - 1 ? c : c.padEnd(w[i] ?? 0))).join('  ').trimEnd();
  return [line(header), ...rows.map(line)].join('\n') + '\n';
}

export function renderReport(rep: AuditReport): string {
  let out = '';
  if (rep.sessions.length === 0) out += 'no door openings match\n';
  else out += renderTable(SESSION_COLUMNS, rep.sessions.map(sessionRow));
  if (rep.rejects.length > 0) {
    // group rejects: one line per (source, reason, door)
    const groups = new Map<string, { src: string; reason: string; door: string; key: string; n: number; first: number; last: number }>();
    for (const r of rep.rejects) {
      const k = JSON.stringify([r.src ?? '-', r.reason, r.door ?? '-', r.key ?? r.keyId ?? '-']);
      const g = groups.get(k);
      if (g) { g.n++; g.first = Math.min(g.first, r.time); g.last = Math.max(g.last, r.time); }
      else groups.set(k, { src: r.src ?? '-', reason: r.reason, door: r.door ?? '-', key: r.key ?? r.keyId ?? '-', n: 1, first: r.time, last: r.time });
    }
    const rows = [...groups.values()].sort((a, b) => a.first - b.first).map((g) => [
      formatTime(g.first), formatTime(g.last), clean(g.src, 45), clean(g.reason, 32), clean(g.door, 32), clean(g.key, 32), String(g.n),
    ]);
    out += `\nrejected knocks: ${rep.rejects.length}\n`;
    out += renderTable(['FIRST', 'LAST', 'FROM', 'REASON', 'DOOR', 'KEY', 'COUNT'], rows);
  }
  out += renderKeyChanges(rep.keyChanges, formatTime);
  if (rep.suppressedRejects > 0) {
    out += `\n${rep.suppressedRejects} further rejected knock(s) were rate-capped and not itemised\n`;
  }
  if (rep.badLines > 0) {
    out += `\nskipped ${rep.badLines} unreadable line(s) (first at line ${rep.firstBadLines.join(', ')})\n`;
  }
  return out;
}

/** Machine output: stable field names, times as ms since the epoch (as in the log). */
export function reportJson(rep: AuditReport): string {
  return JSON.stringify({
    sessions: rep.sessions,
    rejects: rep.rejects,
    records: rep.records,
    badLines: rep.badLines,
    suppressedRejects: rep.suppressedRejects,
    keyChanges: rep.keyChanges,
  }, null, 2) + '\n';
}
