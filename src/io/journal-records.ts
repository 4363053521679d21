/**
 * Validation of the grants journal's records when they are read back (io/journal.ts). The file
 * is trusted (io/safe-file.ts checks its owner and mode) but may be damaged or hand-edited, so
 * every field is checked before a stored stop command is ever run. Returns a reason, never throws.
 */
import type { Principal } from '../core/audit/events.js';
import type { JournalRecord } from '../core/engine/effects.js';

const REASONS = new Set(['timeout', 'shutdown', 'revoked', 'reconcile']);

function isPrincipal(p: unknown): p is Principal {
  if (typeof p !== 'object' || p === null) return false;
  const o = p as Record<string, unknown>;
  if (o.kind === 'sequence') return true;
  return o.kind === 'spa' && typeof o.key === 'string' && typeof o.keyId === 'string';
}

const num = (v: unknown): v is number => typeof v === 'number' && Number.isFinite(v);

/** Checks one stored lease; returns what is wrong, or undefined. */
export function checkLease(v: unknown): string | undefined {
  if (typeof v !== 'object' || v === null) return 'not an object';
  const o = v as Record<string, unknown>;
  for (const k of ['id', 'door', 'ip', 'src', 'stopCommand'] as const) {
    if (typeof o[k] !== 'string') return `field ${k} is not a string`;
  }
  for (const k of ['doorIndex', 'openedAt', 'expiresAt', 'grantedTtl'] as const) {
    if (!num(o[k])) return `field ${k} is not a number`;
  }
  if (o.family !== 4 && o.family !== 6) return 'field family is not 4 or 6';
  if (!isPrincipal(o.principal)) return 'field principal is malformed';
  return undefined;
}

/** One journal line → record, or a reason it is not one. */
export function parseRecord(line: string): JournalRecord | string {
  let v: unknown;
  try { v = JSON.parse(line); } catch { return 'not a JSON record'; }
  if (typeof v !== 'object' || v === null) return 'not a JSON object';
  const r = v as Record<string, unknown>;
  switch (r.op) {
    case 'put': {
      const why = checkLease(r.lease);
      return why ? `lease ${why}` : (r as unknown as JournalRecord);
    }
    case 'due':
      return typeof r.id === 'string' && typeof r.reason === 'string' && REASONS.has(r.reason) && num(r.at) ? (r as unknown as JournalRecord) : 'malformed due record';
    case 'fail':
      return typeof r.id === 'string' && num(r.attempts) && typeof r.error === 'string' && num(r.at) && num(r.retryAt) ? (r as unknown as JournalRecord) : 'malformed fail record';
    case 'del':
      return typeof r.id === 'string' ? (r as unknown as JournalRecord) : 'malformed del record';
    default:
      return 'unknown record type';
  }
}
