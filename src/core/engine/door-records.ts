/**
 * The audit records and log lines the door machine (core/engine/doors.ts) emits for each of
 * its decisions, built in one place so every path says the same thing. Pure.
 */
import type { AuditEvent, Principal } from '../audit/events.js';
import type { Lease } from '../actions/leases.js';
import { expandCommand, selectCommands } from '../actions/command.js';
import { ok, type CommandResult, type Effect } from './effects.js';
import type { GrantRequest } from './slots.js';
import type { Live, Owed } from './slots.js';

export type CommandPlan =
  | { readonly kind: 'none' }
  | { readonly kind: 'refuse'; readonly reason: RefuseReason; readonly klog: string }
  | { readonly kind: 'once'; readonly start: string; readonly ports: string }
  | { readonly kind: 'lease'; readonly start: string; readonly stop: string; readonly ports: string; readonly refresh: boolean };

/**
 * A start command that checks before it acts (`iptables -C … || iptables -I …`) is safe to run
 * again on every grant, and doing so restores a rule removed from outside; a plain one would
 * add a second rule, so an extension does not re-run it (knockd's behaviour).
 */
export const refreshable = (start: string): boolean => start.includes('||');

/** Which commands a grant runs: knockd's `_6` selection and %IP% expansion (core/actions/command.ts). */
export function planCommands(req: GrantRequest): CommandPlan {
  const sel = selectCommands(req.door, req.ip.family);
  if (sel.start === undefined) return { kind: 'none' };
  const start = expandCommand(sel.start, req.ip);
  if (start === undefined) return { kind: 'refuse', reason: 'start-too-long', klog: "error: parsed start command has been truncated! --> won't execute it" };
  const ports = req.ports ?? (req.door.ports ?? req.door.sequence).map((h) => `${h.port}:${h.proto}`).join(',');
  if (sel.stop === undefined) return { kind: 'once', start, ports };
  const stop = expandCommand(sel.stop, req.ip);
  if (stop === undefined) return { kind: 'refuse', reason: 'stop-too-long', klog: "error: parsed stop command has been truncated! --> won't execute start command" };
  return { kind: 'lease', start, stop, ports, refresh: refreshable(start) };
}

export type RefuseReason = 'lease-table-full' | 'open-rate' | 'start-too-long' | 'stop-too-long';

export const base = (l: Lease) => ({ door: l.door, src: l.src, principal: l.principal, ip: l.ip, lease: l.id });

const ttls = (requestedTtl: number | undefined, grantedTtl: number) => ({ ...(requestedTtl !== undefined ? { requestedTtl } : {}), grantedTtl });

export function refuseRecord(req: GrantRequest, reason: RefuseReason): Effect {
  return { kind: 'audit', event: { event: 'door.refuse', door: req.door.name, src: req.src, principal: req.principal, ip: req.ip.text, reason } };
}

export function extendRecords(live: Live, req: GrantRequest): Effect[] {
  const l = live.lease;
  return [
    // who extended it: the knock's source and principal, not the opener's (another key may share the address)
    { kind: 'audit', event: { event: 'door.extend', ...base(l), src: req.src, principal: req.principal, ...ttls(req.requestedTtl, req.grantedTtl), expiresAt: l.expiresAt } },
    { kind: 'log', level: 'info', msg: live.state === 'open' ? 'door extended' : 'door extended before it opened', fields: { door: l.door, ip: l.ip, lease: l.id, expiresAt: l.expiresAt } },
  ];
}

export function openRecords(live: Live, sup: Owed | undefined): Effect[] {
  const l = live.lease;
  return [
    { kind: 'audit', event: {
      event: 'door.open', ...base(l), ports: live.ports, ...ttls(live.requestedTtl, live.grantedTtl), expiresAt: l.expiresAt, exitCode: 0,
      ...(live.reopens ? { reopened: true } : {}), ...(sup ? { supersedes: sup.lease.id } : {}),
    } },
    { kind: 'log', level: 'info', msg: live.reopens ? 're-opened a door whose closing had failed' : 'door opened',
      fields: { door: l.door, ip: l.ip, lease: l.id, expiresAt: l.expiresAt, ...(live.reopens ? { after: live.reopens } : {}) } },
  ];
}

export function rearmRecords(l: Lease): Effect[] {
  return [
    { kind: 'audit', event: { event: 'door.rearm', ...base(l), expiresAt: l.expiresAt } },
    { kind: 'log', level: 'info', msg: 'door re-armed from journal', fields: { door: l.door, ip: l.ip, lease: l.id, expiresAt: l.expiresAt } },
  ];
}

export function lostStartRecords(l: Lease): Effect[] {
  return [{ kind: 'log', level: 'warn', msg: 'start command outcome unknown; door kept as open until its stop command runs', fields: { door: l.door, ip: l.ip, lease: l.id } }];
}

export function onceRecords(req: GrantRequest, ports: string, r: CommandResult): Effect[] {
  const b = { door: req.door.name, src: req.src, principal: req.principal, ip: req.ip.text };
  if (!ok(r)) return commandFail(b, 'start', r);
  return [{ kind: 'audit', event: { event: 'door.open', ...b, ports, ...ttls(req.requestedTtl, req.grantedTtl), exitCode: 0 } }];
}

export function closeRecords(owed: Owed): Effect[] {
  const l = owed.lease;
  return [
    { kind: 'audit', event: { event: 'door.close', ...base(l), exitCode: 0, reason: owed.reason, openedAt: l.openedAt, attempts: owed.attempts } },
    { kind: 'log', level: 'info', msg: 'door closed', fields: { door: l.door, ip: l.ip, lease: l.id, reason: owed.reason, attempts: owed.attempts } },
  ];
}

export function stopFailRecords(owed: Owed, r: CommandResult, delay: number): Effect[] {
  const l = owed.lease;
  return [
    ...commandFail(base(l), 'stop', r, { attempt: owed.attempts, ...(owed.lastError ? { error: owed.lastError } : {}), retryAt: owed.retryAt }),
    { kind: 'log', level: 'warn', msg: 'stop command failed; it will be retried', fields: { door: l.door, ip: l.ip, lease: l.id, attempt: owed.attempts, error: owed.lastError, retryInMs: delay } },
  ];
}

export function commandFail(b: { door: string; src: string; principal: Principal; ip: string; lease?: string }, command: 'start' | 'stop', r: CommandResult,
  extra: { attempt?: number; error?: string; retryAt?: number } = {}): Effect[] {
  const event: AuditEvent = {
    event: 'command.fail', ...b, command,
    ...(r.exitCode !== undefined ? { exitCode: r.exitCode } : {}), ...(r.signal !== undefined ? { signal: r.signal } : {}),
    timedOut: r.timedOut, ...(r.lost ? { lost: true } : {}), ...extra,
  };
  return [
    { kind: 'audit', event },
    { kind: 'log', level: 'warn', msg: 'door command failed', fields: { ...b, command, exitCode: r.exitCode, signal: r.signal, timedOut: r.timedOut, stderr: r.stderrTail } },
  ];
}
