/**
 * DoorController: the command pipeline shared by sequence and SPA doors
 * (docs/ARCHITECTURE.md, "Door opening pipeline").
 *
 *  open:   select start/stop for the family (_6 rules) → expand %IP% (refuse >= 4096 bytes) →
 *          no stop command: run start every time (knockd) →
 *          with a stop command: existing lease for (door, ip) → extend it (no second start);
 *          else journal the grant (fsync) BEFORE running start → exit 0: keep the lease and
 *          arm the timer; failure: drop the journal entry, audit command.fail, schedule nothing;
 *          outcome unknown (runner died mid-command): keep the lease, so the stop runs at expiry.
 *  close:  run the stored (expanded) stop command; on failure retry with backoff (1 s, 5 s, 30 s);
 *          the journal entry stays until it succeeded or retries ran out; audit door.close.
 *  Every operation on one (door, ip) is serialised, so an open and a close for the same
 *  address never interleave (knockd issue #70). One timer is armed: the next deadline.
 */
import type pino from 'pino';
import type { Door } from '../core/config/types.js';
import type { Ip } from '../core/ip.js';
import type { Principal, CloseReason, AuditEvent } from '../core/audit/events.js';
import { selectCommands, expandCommand } from '../core/actions/command.js';
import { LeaseTable, DEFAULT_MAX_LEASES, type Lease } from '../core/actions/leases.js';
import type { Journal } from '../io/journal.js';
import type { AuditLog } from '../io/audit-log.js';
import type { KnockdLog } from '../io/knockd-log.js';
import type { CommandResult } from '../io/exec.js';

export interface OpenRequest {
  doorIndex: number;
  door: Door;
  /** Address to open for (canonical). */
  ip: Ip;
  /** Packet source address that asked (canonical text). */
  src: string;
  principal: Principal;
  /** Seconds the client asked for (SPA). */
  requestedTtl?: number;
  /** Seconds granted. */
  grantedTtl: number;
  /** Text for the audit `ports` field; default: the door's sequence ("7000:tcp,8000:udp"). */
  ports?: string;
}

export type OpenOutcome = 'opened' | 'extended' | 'ran' | 'nothing' | 'failed' | 'refused';

export interface TimerHandle { cancel(): void }

export interface DoorControllerDeps {
  journal: Journal | undefined;
  audit: AuditLog;
  log: KnockdLog;
  logger: pino.Logger;
  run: (cmd: string) => Promise<CommandResult>;
  now: () => number;
  setTimer: (fn: () => void, ms: number) => TimerHandle;
  /** Bound on open leases (default 65536); beyond it opens are refused. */
  maxLeases?: number;
  /** Delays before each stop retry (default [1000, 5000, 30000]). */
  retryDelaysMs?: readonly number[];
}

export const DEFAULT_RETRY_DELAYS_MS: readonly number[] = [1000, 5000, 30000];
const MAX_TIMER_MS = 2 ** 31 - 1;

/** The production timer: setTimeout, unref'd (an armed door never keeps the process alive). */
export function realTimer(fn: () => void, ms: number): TimerHandle {
  const t = setTimeout(fn, Math.max(0, Math.min(MAX_TIMER_MS, ms)));
  t.unref();
  return { cancel: () => clearTimeout(t) };
}

const serialKey = (doorIndex: number, door: string, ip: string): string => `${doorIndex}\u0000${door}\u0000${ip}`;
const leaseKey = (l: Lease): string => serialKey(l.doorIndex, l.door, l.ip);
const ok = (r: CommandResult): boolean => !r.failed && r.exitCode === 0;
const sequenceText = (d: Door): string => d.sequence.map((h) => `${h.port}:${h.proto}`).join(',');

export class DoorController {
  readonly #d: DoorControllerDeps;
  readonly #table: LeaseTable;
  readonly #retry: readonly number[];
  readonly #chains = new Map<string, Promise<void>>();
  readonly #closing = new Set<string>();   // lease ids whose close is queued or running
  #timer: TimerHandle | undefined;
  #timerAt: number | undefined;
  #seq = 0;
  #stopped = false;

  constructor(deps: DoorControllerDeps) {
    this.#d = deps;
    this.#table = new LeaseTable(deps.maxLeases ?? DEFAULT_MAX_LEASES);
    this.#retry = deps.retryDelaysMs ?? DEFAULT_RETRY_DELAYS_MS;
  }

  /** Open leases (for status output). */
  leases(): Lease[] { return this.#table.all(); }

  open(req: OpenRequest): Promise<OpenOutcome> {
    if (this.#stopped) return Promise.resolve('refused');
    const sel = selectCommands(req.door, req.ip.family);
    if (sel.start === undefined) return Promise.resolve('nothing');
    const start = expandCommand(sel.start, req.ip);
    if (start === undefined) {
      this.#d.log.line("error: parsed start command has been truncated! --> won't execute it");
      return Promise.resolve('refused');
    }
    let stop: string | undefined;
    if (sel.stop !== undefined) {
      stop = expandCommand(sel.stop, req.ip);
      if (stop === undefined) {
        this.#d.log.line("error: parsed stop command has been truncated! --> won't execute start command");
        return Promise.resolve('refused');
      }
    }
    const key = serialKey(req.doorIndex, req.door.name, req.ip.text);
    return this.#serial(key, async (): Promise<OpenOutcome> => {
      if (this.#stopped) return 'refused';
      try {
        return stop === undefined ? await this.#runOnly(req, start) : await this.#openLease(req, start, stop);
      } catch (e) {
        this.#d.logger.error({ err: e, door: req.door.name, ip: req.ip.text }, 'door open failed');
        return 'failed';
      }
    });
  }

  /**
   * Startup: load the journal; entries whose time has passed are closed now with their
   * stored stop command (door.close reason 'reconcile'), the others are re-armed (door.rearm).
   */
  async reconcile(): Promise<void> {
    const entries = this.#d.journal?.load() ?? [];
    const now = this.#d.now();
    const closes: Promise<void>[] = [];
    for (const l of [...entries].sort((a, b) => a.expiresAt - b.expiresAt)) {
      if (l.expiresAt > now && this.#table.add(l)) {
        this.#audit({ event: 'door.rearm', door: l.door, src: l.src, principal: l.principal, ip: l.ip, lease: l.id, expiresAt: l.expiresAt });
        this.#d.logger.info({ door: l.door, ip: l.ip, lease: l.id, expiresAt: l.expiresAt }, 'door re-armed from journal');
      } else {
        closes.push(this.#queueClose(l, 'reconcile'));
      }
    }
    this.#arm();
    await this.#keepAlive(Promise.all(closes));
  }

  /** Close every open lease matching pred now (key revoked, shutdown). */
  async closeWhere(pred: (l: Lease) => boolean, reason: 'revoked' | 'shutdown'): Promise<void> {
    const first = this.#closeMatching(pred, reason);
    // opens already queued for a matching principal finish first; close what they opened too
    await this.#keepAlive(Promise.all([first, ...this.#chains.values()]));
    await this.#keepAlive(this.#closeMatching(pred, reason));
  }

  /** SIGTERM with CloseOnExit: refuse new opens, let running operations finish, close everything. */
  async closeAll(reason: 'shutdown'): Promise<void> {
    this.dispose();
    const work = (async () => {
      for (let round = 0; round < 100; round++) {
        const pending = [...this.#chains.values()];
        const closes = this.#closeMatching(() => true, reason);
        await Promise.all([...pending, closes]);
        if (this.#table.size === 0 && this.#chains.size === 0) return;
      }
    })();
    await this.#keepAlive(work);
  }

  /** Stop the timer and refuse further opens; leases stay in the journal (CloseOnExit = no). */
  dispose(): void {
    this.#stopped = true;
    this.#timer?.cancel();
    this.#timer = undefined;
    this.#timerAt = undefined;
  }

  // ---------------------------------------------------------------------------------------

  async #runOnly(req: OpenRequest, start: string): Promise<OpenOutcome> {
    const base = { door: req.door.name, src: req.src, principal: req.principal, ip: req.ip.text };
    const res = await this.#exec(req.door.name, start);
    if (ok(res)) {
      this.#audit({
        event: 'door.open', ...base, ports: req.ports ?? sequenceText(req.door),
        ...(req.requestedTtl !== undefined ? { requestedTtl: req.requestedTtl } : {}),
        grantedTtl: req.grantedTtl, exitCode: 0,
      });
      return 'ran';
    }
    this.#commandFail(base, 'start', res);
    return 'failed';
  }

  async #openLease(req: OpenRequest, start: string, stop: string): Promise<OpenOutcome> {
    const d = this.#d;
    const now = d.now();
    const ttlMs = Math.max(0, req.grantedTtl) * 1000;
    const base = { door: req.door.name, src: req.src, principal: req.principal, ip: req.ip.text };
    const existing = this.#table.find(req.door.name, req.ip.text, req.doorIndex);
    if (existing) {
      const updated = this.#table.extend(existing.id, Math.max(existing.expiresAt, now + ttlMs)) ?? existing;
      try { d.journal?.put(updated); } catch (e) {
        d.logger.error({ err: e, lease: updated.id }, 'journal update failed (the lease stays open in memory)');
      }
      this.#audit({
        event: 'door.extend', ...base, lease: updated.id,
        ...(req.requestedTtl !== undefined ? { requestedTtl: req.requestedTtl } : {}),
        grantedTtl: req.grantedTtl, expiresAt: updated.expiresAt,
      });
      this.#arm();
      return 'extended';
    }
    if (this.#table.size >= this.#table.max) {
      d.logger.warn({ door: req.door.name, ip: req.ip.text, max: this.#table.max }, 'lease table full, open refused');
      return 'refused';
    }
    const lease: Lease = {
      id: this.#newId(now), doorIndex: req.doorIndex, door: req.door.name, ip: req.ip.text,
      family: req.ip.family, principal: req.principal, src: req.src, openedAt: now,
      expiresAt: now + ttlMs, stopCommand: stop, grantedTtl: req.grantedTtl,
    };
    try { d.journal?.put(lease); } catch (e) {
      // without a journal entry a crash would leave the door open forever: do not open
      d.logger.error({ err: e, door: lease.door, ip: lease.ip }, 'cannot journal the grant, open refused');
      return 'refused';
    }
    const res = await this.#exec(req.door.name, start);
    if (!ok(res) && res.lost) {
      // the start may have run: keep the journalled lease so its stop command runs at expiry
      this.#commandFail({ ...base, lease: lease.id }, 'start', res);
      this.#table.add(lease);
      d.logger.warn({ door: lease.door, ip: lease.ip, lease: lease.id, expiresAt: lease.expiresAt }, 'start command outcome unknown; door kept as open until its stop command runs');
      this.#arm();
      return 'failed';
    }
    if (!ok(res)) {
      this.#journalRemove(lease.id);
      this.#commandFail({ ...base, lease: lease.id }, 'start', res);
      return 'failed';
    }
    this.#table.add(lease);
    this.#audit({
      event: 'door.open', ...base, lease: lease.id, ports: req.ports ?? sequenceText(req.door),
      ...(req.requestedTtl !== undefined ? { requestedTtl: req.requestedTtl } : {}),
      grantedTtl: req.grantedTtl, expiresAt: lease.expiresAt, exitCode: 0,
    });
    d.logger.info({ door: lease.door, ip: lease.ip, lease: lease.id, expiresAt: lease.expiresAt }, 'door opened');
    this.#arm();
    return 'opened';
  }

  #closeMatching(pred: (l: Lease) => boolean, reason: CloseReason): Promise<void> {
    const victims = this.#table.all().filter(pred);
    for (const l of victims) this.#table.remove(l.id);
    this.#arm();
    return Promise.all(victims.map((l) => this.#queueClose(l, reason))).then(() => undefined);
  }

  #queueClose(l: Lease, reason: CloseReason): Promise<void> {
    this.#closing.add(l.id);
    return this.#serial(leaseKey(l), async () => {
      try { await this.#close(l, reason); } catch (e) {
        this.#d.logger.error({ err: e, lease: l.id }, 'door close failed');
      } finally { this.#closing.delete(l.id); }
    });
  }

  async #close(l: Lease, reason: CloseReason): Promise<void> {
    const d = this.#d;
    const base = { door: l.door, src: l.src, principal: l.principal, ip: l.ip, lease: l.id };
    if (reason === 'timeout') d.log.line(`${l.src}: ${l.door}: command timeout`);
    let res: CommandResult | undefined;
    for (let attempt = 0; ; attempt++) {
      if (l.stopCommand === '') {
        // knockd runs system("") here: a no-op that exits 0
        res = { exitCode: 0, timedOut: false, failed: false, durationMs: 0 };
        break;
      }
      res = await this.#exec(l.door, l.stopCommand);
      if (ok(res)) break;
      this.#commandFail(base, 'stop', res);
      const delay = this.#retry[attempt];
      if (delay === undefined) {
        d.logger.error({ door: l.door, ip: l.ip, lease: l.id, attempts: attempt + 1 }, 'stop command failed, giving up');
        break;
      }
      await this.#sleep(delay);
    }
    this.#journalRemove(l.id);
    this.#audit({
      event: 'door.close', ...base,
      ...(res.exitCode !== undefined ? { exitCode: res.exitCode } : {}),
      reason, openedAt: l.openedAt,
    });
    d.logger.info({ door: l.door, ip: l.ip, lease: l.id, reason }, 'door closed');
  }

  async #exec(door: string, cmd: string): Promise<CommandResult> {
    this.#d.log.line(`${door}: running command: ${cmd}`);
    let res: CommandResult;
    try { res = await this.#d.run(cmd); } catch (e) {
      res = { exitCode: undefined, timedOut: false, failed: true, durationMs: 0, stderrTail: String(e) };
    }
    if (!ok(res)) {
      if (res.lost) {
        this.#d.log.line(`${door}: command outcome unknown (the command runner exited while it ran)`);
      } else if (res.exitCode !== undefined && res.exitCode !== 0) {
        this.#d.log.line(`${door}: command returned non-zero status code (${res.exitCode})`);
      } else if (res.timedOut || res.signal) {
        this.#d.log.line(`${door}: command ${res.timedOut ? 'timed out' : 'was killed'}${res.signal ? ` (${res.signal})` : ''}`);
      } else {
        this.#d.log.line('error: command fork failed!');
      }
    }
    return res;
  }

  #commandFail(base: { door: string; src: string; principal: Principal; ip: string; lease?: string }, command: 'start' | 'stop', res: CommandResult): void {
    this.#audit({
      event: 'command.fail', ...base, command,
      ...(res.exitCode !== undefined ? { exitCode: res.exitCode } : {}),
      ...(res.signal !== undefined ? { signal: res.signal } : {}),
      timedOut: res.timedOut,
      ...(res.lost ? { lost: true } : {}),
    });
    this.#d.logger.warn({ ...base, command, exitCode: res.exitCode, signal: res.signal, timedOut: res.timedOut, stderr: res.stderrTail }, 'door command failed');
  }

  #journalRemove(id: string): void {
    try { this.#d.journal?.remove(id); } catch (e) {
      this.#d.logger.error({ err: e, lease: id }, 'journal remove failed');
    }
  }

  #audit(e: AuditEvent): void {
    try { this.#d.audit.record(e); } catch (err) {
      this.#d.logger.error({ err, event: e.event }, 'audit record failed');
    }
  }

  #newId(now: number): string {
    for (;;) {
      const id = `${now.toString(36)}-${(++this.#seq).toString(36)}`;
      if (!this.#table.get(id) && !this.#closing.has(id)) return id;
    }
  }

  #serial<T>(key: string, fn: () => Promise<T>): Promise<T> {
    const prev = this.#chains.get(key) ?? Promise.resolve();
    const p = prev.then(fn);
    const tail = p.then(() => undefined, () => undefined);
    this.#chains.set(key, tail);
    void tail.then(() => { if (this.#chains.get(key) === tail) this.#chains.delete(key); });
    return p;
  }

  #sleep(ms: number): Promise<void> {
    return new Promise((resolve) => { this.#d.setTimer(resolve, ms); });
  }

  /** Keeps the event loop alive while shutdown/startup work waits on unref'd timers. */
  async #keepAlive<T>(p: Promise<T>): Promise<T> {
    const h = setInterval(() => { /* keep-alive */ }, 1 << 30);
    try { return await p; } finally { clearInterval(h); }
  }

  /** Arms the single timer at the earliest deadline (or cancels it). */
  #arm(): void {
    if (this.#stopped) return;
    const next = this.#table.nextDeadline();
    if (next === undefined) {
      this.#timer?.cancel();
      this.#timer = undefined;
      this.#timerAt = undefined;
      return;
    }
    if (this.#timer && this.#timerAt === next) return;
    this.#timer?.cancel();
    this.#timerAt = next;
    const delay = Math.max(0, Math.min(MAX_TIMER_MS, next - this.#d.now()));
    const handle = this.#d.setTimer(() => {
      if (this.#timer !== handle) return;
      this.#timer = undefined;
      this.#timerAt = undefined;
      this.#onTimer();
    }, delay);
    this.#timer = handle;
  }

  #onTimer(): void {
    if (this.#stopped) return;
    const due = this.#table.due(this.#d.now());
    for (const l of due) {
      this.#table.remove(l.id);
      void this.#queueClose(l, 'timeout');
    }
    this.#arm();
  }
}
