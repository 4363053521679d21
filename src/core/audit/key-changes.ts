/**
 * `key.*` audit records (written by `knockd keys`, events.ts KeyChangeEvent) as `knockd audit`
 * shows them: who added, changed, revoked, unrevoked or removed which key, when. Tolerant like
 * the rest of the reader: a record without a key name is not a key change. Every value reaching
 * the terminal goes through printable(). Pure.
 */
import { printable } from '../text.js';

export interface KeyChange {
  readonly time: number;
  readonly event: string;
  readonly key: string;
  readonly keyId?: string;
  /** "root (uid 0, sudo alice)" */
  readonly by: string;
  /** "doors=ssh,web nat=true" for key.set, the policy for key.add */
  readonly changes: string;
}

const str = (v: unknown): string | undefined => (typeof v === 'string' ? v : undefined);

function actor(v: unknown): string {
  if (typeof v !== 'object' || v === null) return '?';
  const o = v as Record<string, unknown>;
  const sudo = str(o['sudoUser']);
  return `${str(o['user']) ?? '?'} (uid ${typeof o['uid'] === 'number' ? o['uid'] : '?'}${sudo ? `, sudo ${sudo}` : ''})`;
}

function fieldsText(v: unknown): string {
  if (typeof v !== 'object' || v === null) return '';
  return Object.entries(v as Record<string, unknown>).map(([k, x]) => {
    const val = Array.isArray(x) ? (x.length ? x.join(',') : '*') : x === null ? '-' : String(x);
    return `${k}=${val}`;
  }).join(' ');
}

/** A key change from a parsed JSON audit object, or undefined when it is none. */
export function keyChangeOf(o: Record<string, unknown>, time: number, event: string): KeyChange | undefined {
  if (!event.startsWith('key.')) return undefined;
  const key = str(o['key']);
  if (key === undefined) return undefined;
  const keyId = str(o['keyId']);
  return { time, event, key, ...(keyId !== undefined ? { keyId } : {}), by: actor(o['by']), changes: fieldsText(o['fields']) };
}

export function renderKeyChanges(list: readonly KeyChange[], formatTime: (ms: number) => string): string {
  if (list.length === 0) return '';
  const rows = list.map((c) => [formatTime(c.time), printable(c.event, 16), printable(c.key, 64), printable(c.by, 64), printable(c.changes, 200)]);
  const head = ['TIME', 'CHANGE', 'KEY', 'BY', 'FIELDS'];
  const w = head.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: readonly string[]) => cells.map((c, i) => (i === cells.length - 1 ? c : c.padEnd(w[i] ?? 0))).join('  ').trimEnd();
  return `\nkey changes: ${list.length}\n` + [line(head), ...rows.map(line)].join('\n') + '\n';
}
