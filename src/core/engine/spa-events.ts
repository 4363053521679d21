/**
 * An SPA verification result (core/spa/verify.ts) → effects: a grant goes to the door machine
 * in the `auth` lane, with its duration capped at the key's expiry (a lease never outlives its
 * key); a reject is audited, and logged in full only when it is authenticated (rejects.ts). Pure.
 */
import type { Keyring } from '../keys/keyring.js';
import type { SpaResult } from '../spa/verify.js';
import type { Effect } from './effects.js';
import type { RejectCounter } from './rejects.js';
import type { GrantRequest } from './slots.js';

export interface SpaContext {
  readonly keyring: Keyring | undefined;
  readonly rejects: RejectCounter;
  grant(req: GrantRequest): Effect[];
}


export function spaEffects(r: SpaResult, src: string, rxMs: number, now: number, c: SpaContext): Effect[] {
  if (!r.ok) {
    const audit: Effect = { kind: 'audit', event: { event: 'knock.reject', reason: r.reason, src, ...(r.keyId ? { keyId: r.keyId } : {}), ...(r.key ? { key: r.key } : {}) } };
    if (!r.authenticated) {
      c.rejects.add(r.reason, now);
      return [audit, { kind: 'log', level: 'debug', msg: 'SPA rejected', fields: { src, reason: r.reason, keyId: r.keyId } }];
    }
    // the key holder really sent it: the numbers they can act on (clock difference, addresses, door)
    return [audit, { kind: 'log', level: 'info', msg: 'SPA rejected', fields: { src, reason: r.reason, key: r.key, keyId: r.keyId, ...(r.detail ? { detail: r.detail } : {}) } }];
  }
  const g = r.grant;
  let ttl = g.grantedTtl;
  const expires = c.keyring?.byName(g.key.name)?.expires;
  if (expires !== undefined) ttl = Math.max(0, Math.min(ttl, Math.floor((expires - now) / 1000)));
  return [
    { kind: 'klog', line: `${src}: ${g.door.name}: SPA knock accepted (key ${g.key.name})` },
    { kind: 'log', level: 'info', msg: 'SPA grant', fields: { src, door: g.door.name, key: g.key.name, ip: g.ip.text, ttl, rxMs } },
    ...c.grant({
      doorIndex: g.doorIndex, door: g.door, ip: g.ip, src, principal: { kind: 'spa', key: g.key.name, keyId: g.key.id },
      requestedTtl: g.requestedTtl, grantedTtl: ttl, lane: 'auth',
    }),
  ];
}
