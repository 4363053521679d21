/**
 * The door command pipeline shared by sequence and SPA doors, as a pure state machine
 * (docs/ARCHITECTURE.md "Door opening pipeline"). It decides; the daemon runs the commands,
 * writes the journal and feeds results back (`done`). Time comes in as `now`.
 *
 * One slot per (door index, door, address): its commands run one at a time, so an open and a
 * close of the same rule never interleave (knockd #70). A slot holds at most one live lease
 * (waiting, opening, open) and the stop commands still owed for that rule.
 *  - grant: no stop command → run the start each time (knockd). Live lease → extend it (a
 *    check-then-act start runs again, see refreshable()). Otherwise journal a new lease and run the start; if a close of this rule
 *    failed and awaits a retry, its stop runs once more first, and if it fails again the new
 *    lease supersedes it (same stop command, one stop closes both): a granted knock always
 *    results in an open door, never in "extending" a half-closed one.
 *  - start ok → open; failed → the lease leaves the journal; unknown (runner died) → kept as
 *    open so its stop runs; revoked meanwhile → closed as soon as it is open.
 *  - stop ok → the lease leaves the journal (door.close); failed → command.fail and a retry
 *    with capped backoff for as long as needed, also after a restart (from the journal).
 */
import type { CloseReason } from '../audit/events.js';
import { DEFAULT_MAX_LEASES, type Lease } from '../actions/leases.js';
import { Deadlines } from './deadlines.js';
import { failureText, ok, type CommandResult, type Effect } from './effects.js';
import { base, closeRecords, commandFail, extendRecords, lostStartRecords, onceRecords, openRecords, planCommands, rearmRecords, refuseRecord, stopFailRecords, type RefuseReason } from './door-records.js';
import { type GrantRequest, type DoorMachineOptions, type Live, type Owed, type Slot, leaseView, type LeaseView } from './slots.js';

export type { GrantRequest, DoorMachineOptions, LeaseView } from './slots.js';

export const DEFAULT_RETRY_DELAYS_MS: readonly number[] = [1000, 2000, 5000, 10_000, 30_000, 60_000];

type Op =
  | { readonly kind: 'start' | 'refresh'; readonly slot: Slot; readonly live: Live }
  | { readonly kind: 'stop'; readonly slot: Slot; readonly owed: Owed }
  | { readonly kind: 'once'; readonly req: GrantRequest; readonly ports: string };

const slotKey = (doorIndex: number, door: string, ip: string): string => `${doorIndex}\u0000${door}\u0000${ip}`;

export class DoorMachine {
  readonly #slots = new Map<string, Slot>();
  readonly #ops = new Map<number, Op>();
  readonly #deadlines = new Deadlines();
  readonly #max: number;
  readonly #retry: readonly number[];
  #leases = 0;
  #opSeq = 0;
  #idSeq = 0;

  constructor(o: DoorMachineOptions = {}) {
    this.#max = o.maxLeases ?? DEFAULT_MAX_LEASES;
    this.#retry = o.retryDelaysMs && o.retryDelaysMs.length > 0 ? o.retryDelaysMs : DEFAULT_RETRY_DELAYS_MS;
  }

  /** Leases (live and closing) for status output. */
  leases(now: number): LeaseView[] {
    const out: LeaseView[] = [];
    for (const s of this.#slots.values()) {
      if (s.live) out.push(leaseView(s.live.lease, s.live.state, now));
      for (const o of s.owed) out.push(leaseView(o.lease, o.op !== undefined ? 'closing' : 'retry', now, o));
    }
    return out;
  }

  /** Leases held (live and owed), commands in flight. */
  get size(): number { return this.#leases; }
  get running(): number { return this.#ops.size; }  nextDeadline(): number | undefined { return this.#deadlines.peek(); }

  /** Nothing running, nothing starting, no stop due: what shutdown waits for. */
  settled(now: number): boolean {
    if (this.#ops.size > 0) return false;
    for (const s of this.#slots.values()) {
      if (s.live && s.live.state !== 'open') return false;
      if (s.owed.some((o) => o.retryAt <= now)) return false;
    }
    return true;
  }

  grant(req: GrantRequest, now: number): Effect[] {
    const fx: Effect[] = [];
    const refuse = (reason: RefuseReason): Effect[] => { fx.push(refuseRecord(req, reason)); return fx; };
    const plan = planCommands(req);
    if (plan.kind === 'none') return fx;
    if (plan.kind === 'refuse') {
      fx.push({ kind: 'klog', line: plan.klog });
      return refuse(plan.reason);
    }
    const { start, ports } = plan;
    if (plan.kind === 'once') {
      if (req.admit && !req.admit()) return refuse('open-rate');
      fx.push({ kind: 'run', op: this.#newOp({ kind: 'once', req, ports }), lane: req.lane, door: req.door.name, command: start });
      return fx;
    }
    const stop = plan.stop;
    const key = slotKey(req.doorIndex, req.door.name, req.ip.text);
    const slot = this.#slots.get(key) ?? { key, owed: [] };
    const ttlMs = Math.max(0, req.grantedTtl) * 1000;
    const live = slot.live;
    if (live) {
      const expiresAt = Math.max(live.lease.expiresAt, now + ttlMs);
      live.lease = { ...live.lease, expiresAt };
      fx.push({ kind: 'journal', rec: { op: 'put', lease: live.lease } }, ...extendRecords(live, req));
      if (live.state === 'open' && plan.refresh && slot.running === undefined) {
        fx.push({ kind: 'run', op: this.#newOp({ kind: 'refresh', slot, live }), lane: req.lane, door: req.door.name, command: start });
      }
      this.#schedule(slot);
      return fx;
    }
    if (this.#leases >= this.#max) {
      fx.push({ kind: 'log', level: 'warn', msg: 'lease table full, open refused', fields: { door: req.door.name, ip: req.ip.text, max: this.#max } });
      return refuse('lease-table-full');
    }
    if (req.admit && !req.admit()) return refuse('open-rate');
    const lease: Lease = {
      id: `${now.toString(36)}-${(++this.#idSeq).toString(36)}`, doorIndex: req.doorIndex, door: req.door.name,
      ip: req.ip.text, family: req.ip.family, principal: req.principal, src: req.src, openedAt: now,
      expiresAt: now + ttlMs, stopCommand: stop, grantedTtl: req.grantedTtl,
    };
    const failed = slot.owed.find((o) => o.op === undefined && o.attempts > 0);
    const n: Live = {
      lease, state: 'waiting', start, lane: req.lane, ports, grantedTtl: req.grantedTtl,
      ...(req.requestedTtl !== undefined ? { requestedTtl: req.requestedTtl } : {}),
      ...(failed ? { reopens: failed.lease.id } : {}),
    };
    if (failed) failed.retryAt = now;   // one more try right now, before the start
    slot.live = n;
    this.#slots.set(key, slot);
    this.#leases++;
    fx.push({ kind: 'journal', rec: { op: 'put', lease } });
    this.#pump(slot, now, fx);
    return fx;
  }

  /** Close the leases matching `pred` now (revocation, shutdown); starting ones once they are open. */
  closeWhere(pred: (l: Lease) => boolean, reason: CloseReason, now: number): Effect[] {
    const fx: Effect[] = [];
    for (const slot of [...this.#slots.values()]) {
      const live = slot.live;
      if (live && pred(live.lease)) {
        if (live.state === 'open') this.#toOwed(slot, live, reason, now, fx);
        else if (live.state === 'opening') live.closeReason = reason;
        else this.#cancel(slot, live, reason, fx);
      }
      for (const o of slot.owed) if (o.op === undefined && pred(o.lease)) o.retryAt = Math.min(o.retryAt, now);
      this.#pump(slot, now, fx);
    }
    return fx;
  }

  /** Start-up: leases from the journal are re-armed, or closed now when their time has passed. */
  restore(entries: readonly (Lease & { closing?: { reason: CloseReason; attempts: number; lastError?: string } })[], now: number): Effect[] {
    const fx: Effect[] = [];
    for (const l of [...entries].sort((a, b) => a.expiresAt - b.expiresAt)) {
      const key = slotKey(l.doorIndex, l.door, l.ip);
      const slot = this.#slots.get(key) ?? { key, owed: [] };
      this.#slots.set(key, slot);
      this.#leases++;
      if (l.closing || l.expiresAt <= now || slot.live) {
        const reason = l.closing?.reason ?? 'reconcile';
        slot.owed.push({ lease: l, reason, since: now, attempts: l.closing?.attempts ?? 0, retryAt: now, ...(l.closing?.lastError ? { lastError: l.closing.lastError } : {}) });
        fx.push({ kind: 'journal', rec: { op: 'due', id: l.id, reason, at: now } });
      } else {
        slot.live = { lease: l, state: 'open', start: '', lane: 'auth', ports: '', grantedTtl: l.grantedTtl };
        fx.push(...rearmRecords(l));
      }
      this.#pump(slot, now, fx);
    }
    return fx;
  }

  /** Leases due (expired, or a stop retry whose time came). */
  tick(now: number): Effect[] {
    const fx: Effect[] = [];
    for (const key of this.#deadlines.popDue(now)) {
      const slot = this.#slots.get(key);
      if (!slot) continue;
      const live = slot.live;
      if (live && live.state === 'open' && live.lease.expiresAt <= now) {
        fx.push({ kind: 'klog', line: `${live.lease.src}: ${live.lease.door}: command timeout` });
        this.#toOwed(slot, live, 'timeout', now, fx);
      }
      this.#pump(slot, now, fx);
    }
    return fx;
  }

  done(op: number, r: CommandResult, now: number): Effect[] {
    const fx: Effect[] = [];
    const o = this.#ops.get(op);
    if (!o) return fx;
    this.#ops.delete(op);
    if (o.kind === 'once') { fx.push(...onceRecords(o.req, o.ports, r)); return fx; }
    o.slot.running = undefined;
    if (o.kind === 'stop') this.#stopDone(o.slot, o.owed, r, now, fx);
    else if (o.kind === 'start') this.#startDone(o.slot, o.live, r, now, fx);
    else if (!ok(r)) fx.push(...commandFail(base(o.live.lease), 'start', r));   // a refresh failed: the lease stays
    this.#pump(o.slot, now, fx);
    return fx;
  }

  // ---------------------------------------------------------------------------------------

  #startDone(slot: Slot, live: Live, r: CommandResult, now: number, fx: Effect[]): void {
    const l = live.lease;
    const sup = live.supersedes;
    live.supersedes = undefined;
    if (!ok(r) && !r.lost) {
      // nothing replaced a superseded close: it simply stays owed, with its retry
      fx.push(...commandFail(base(l), 'start', r));
      fx.push({ kind: 'journal', rec: { op: 'del', id: l.id } });
      slot.live = undefined;
      this.#leases--;
      return;
    }
    if (!ok(r)) fx.push(...commandFail(base(l), 'start', r), ...lostStartRecords(l));
    live.state = 'open';
    if (sup) {
      slot.owed = slot.owed.filter((x) => x !== sup);
      this.#leases--;
      fx.push({ kind: 'journal', rec: { op: 'del', id: sup.lease.id } });
    }
    if (ok(r)) fx.push(...openRecords(live, sup));
    if (live.closeReason) this.#toOwed(slot, live, live.closeReason, now, fx);
  }

  #stopDone(slot: Slot, owed: Owed, r: CommandResult, now: number, fx: Effect[]): void {
    owed.op = undefined;
    owed.attempts++;
    const l = owed.lease;
    if (ok(r)) {
      slot.owed = slot.owed.filter((x) => x !== owed);
      this.#leases--;
      fx.push({ kind: 'journal', rec: { op: 'del', id: l.id } }, ...closeRecords(owed));
      return;
    }
    const delay = this.#retry[Math.min(owed.attempts - 1, this.#retry.length - 1)] as number;
    owed.retryAt = now + delay;
    owed.lastError = failureText(r);
    fx.push({ kind: 'journal', rec: { op: 'fail', id: l.id, attempts: owed.attempts, error: owed.lastError, at: now, retryAt: owed.retryAt } },
      ...stopFailRecords(owed, r, delay));
    const live = slot.live;
    if (live?.state === 'waiting' && l.stopCommand === live.lease.stopCommand) {
      live.supersedes = owed;   // the waiting open re-opens this rule and takes over its stop
      live.reopens = l.id;
    }
  }

  /** A live open lease becomes an owed stop. */
  #toOwed(slot: Slot, live: Live, reason: CloseReason, now: number, fx: Effect[]): void {
    slot.live = undefined;
    slot.owed.push({ lease: live.lease, reason, since: now, attempts: 0, retryAt: now });
    fx.push({ kind: 'journal', rec: { op: 'due', id: live.lease.id, reason, at: now } });
  }

  /** A lease whose start never ran (revoked, shut down while waiting) simply goes. */
  #cancel(slot: Slot, live: Live, reason: CloseReason, fx: Effect[]): void {
    slot.live = undefined;
    this.#leases--;
    fx.push({ kind: 'journal', rec: { op: 'del', id: live.lease.id } });
    fx.push({ kind: 'log', level: 'info', msg: 'pending open cancelled', fields: { door: live.lease.door, ip: live.lease.ip, lease: live.lease.id, reason } });
  }

  /** Starts the slot's next command when none runs: a due stop first, then a waiting start. */
  #pump(slot: Slot, now: number, fx: Effect[]): void {
    const due = slot.running === undefined ? slot.owed.find((o) => o.retryAt <= now) : undefined;
    if (due && due.lease.stopCommand === '') {
      // knockd runs system("") here: a no-op that succeeds; no process is started
      this.#stopDone(slot, due, { exitCode: 0, timedOut: false, failed: false, durationMs: 0 }, now, fx);
      this.#pump(slot, now, fx);
      return;
    }
    if (due) {
      due.op = this.#newOp({ kind: 'stop', slot, owed: due });
      fx.push({ kind: 'run', op: due.op, lane: 'close', door: due.lease.door, command: due.lease.stopCommand });
    } else if (slot.running === undefined && slot.live?.state === 'waiting') {
      const live = slot.live;
      live.state = 'opening';
      fx.push({ kind: 'run', op: this.#newOp({ kind: 'start', slot, live }), lane: live.lane, door: live.lease.door, command: live.start });
    }
    this.#schedule(slot);
  }

  #newOp(o: Op): number {
    const op = ++this.#opSeq;
    this.#ops.set(op, o);
    if (o.kind !== 'once') o.slot.running = op;
    return op;
  }

  /** Keeps the slot's deadline (earliest expiry or retry) in the heap; forgets empty slots. */
  #schedule(slot: Slot): void {
    if (!slot.live && slot.owed.length === 0 && slot.running === undefined) {
      this.#slots.delete(slot.key);
      this.#deadlines.set(slot.key, undefined);
      return;
    }
    let at: number | undefined = slot.live?.state === 'open' ? slot.live.lease.expiresAt : undefined;
    if (slot.running === undefined) {
      for (const o of slot.owed) if (at === undefined || o.retryAt < at) at = o.retryAt;
    }
    this.#deadlines.set(slot.key, at);
  }
}
