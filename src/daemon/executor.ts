/**
 * Carries out the engine's effects, in order, through the ports, and feeds every result back
 * into the engine. It decides nothing: which command runs, what is journalled or audited, and
 * when, comes from src/core/engine. It owns the single timer (armed at the engine's next
 * deadline) and knows when shutdown may finish (engine settled, no command in flight).
 *
 * Effects are processed from one queue, so a result fed back while a batch is being carried out
 * is handled after it: the order of effects is the order the engine emitted them.
 * If the journal cannot be written, a start command in the same batch is not run (a door must
 * never open without its lease on disk): the engine hears that it failed.
 */
import type { Engine } from '../core/engine/engine.js';
import { failureText, type CommandResult, type Effect } from '../core/engine/effects.js';
import type { AuditPort, CapturePort, DaemonPorts, JournalPort, KnockdLogPort, TimerHandle } from './ports.js';

export interface ExecutorDeps {
  readonly engine: Engine;
  readonly ports: DaemonPorts;
  readonly journal: JournalPort;
  audit: AuditPort;
  klog: KnockdLogPort;
  capture: CapturePort | undefined;
  /** -D: knockd's debug lines on stdout. */
  readonly debug: boolean;
}

const JOURNAL_FAILED: CommandResult = { exitCode: undefined, timedOut: false, failed: true, durationMs: 0, stderrTail: 'not started: the journal could not be written' };

export class Executor {
  readonly #d: ExecutorDeps;
  readonly #queue: Effect[][] = [];
  #busy = false;
  #timer: TimerHandle | undefined;
  #timerAt: number | undefined;
  #inflight = 0;
  #filter: string | undefined;
  #onIdle: (() => void) | undefined;

  constructor(d: ExecutorDeps) { this.#d = d; }

  get inflight(): number { return this.#inflight; }
  set capture(c: CapturePort | undefined) { this.#d.capture = c; }
  /** The filter last applied to the capture. */
  set appliedFilter(f: string | undefined) { this.#filter = f; }
  get appliedFilter(): string | undefined { return this.#filter; }

  /** Carry out effects (and everything they lead to), then re-arm the timer. */
  feed(fx: Effect[]): void {
    if (fx.length > 0) this.#queue.push(fx);
    if (this.#busy) return;
    this.#busy = true;
    try {
      for (let batch = this.#queue.shift(); batch; batch = this.#queue.shift()) this.#batch(batch);
    } finally { this.#busy = false; }
    this.#arm();
    if (this.#onIdle && this.#inflight === 0) this.#onIdle();
  }

  /** Resolves when the engine is settled and no command runs (shutdown), or after `limitMs`. */
  whenSettled(limitMs: number): Promise<boolean> {
    const { engine, ports } = this.#d;
    return new Promise((resolve) => {
      let t: TimerHandle | undefined;
      const check = (): void => {
        if (this.#inflight === 0 && engine.settled(ports.now())) { finish(true); }
      };
      const finish = (ok: boolean): void => { this.#onIdle = undefined; t?.cancel(); resolve(ok); };
      t = ports.setTimer(() => finish(false), limitMs);
      this.#onIdle = check;
      check();
    });
  }

  stop(): void { this.#timer?.cancel(); this.#timer = undefined; this.#timerAt = undefined; }

  // ---------------------------------------------------------------------------------------

  #batch(fx: Effect[]): void {
    const { engine, ports } = this.#d;
    let journalFailed = false;
    for (const e of fx) {
      switch (e.kind) {
        case 'journal':
          try { this.#d.journal.append(e.rec); } catch (err) {
            journalFailed = true;
            ports.logger.log('error', { err: String(err), op: e.rec.op }, 'journal write failed');
          }
          break;
        case 'run':
          if (journalFailed && e.lane !== 'close') { this.#queue.push(engine.done(e.op, JOURNAL_FAILED, ports.now())); break; }
          this.#run(e.op, e.lane, e.door, e.command);
          break;
        case 'audit':
          try { this.#d.audit.record(e.event); } catch (err) { ports.logger.log('error', { err: String(err), event: e.event.event }, 'audit record failed'); }
          break;
        case 'log': ports.logger.log(e.level, e.fields ?? {}, e.msg); break;
        case 'klog': this.#d.klog.line(e.line); break;
        case 'filter': this.#setFilter(e.expr); break;
        case 'ots': this.#ots(e.doorIndex, e.door, e.path, e.used); break;
        case 'lookup':
          void ports.reverseLookup?.(e.src).then((n) => { if (n) engine.named(e.src, n); }, () => undefined);
          break;
      }
    }
  }

  #run(op: number, lane: Parameters<DaemonPorts['runner']['run']>[1], door: string, command: string): void {
    const { engine, ports } = this.#d;
    this.#d.klog.line(`${door}: running command: ${command}`);
    this.#inflight++;
    let p: Promise<CommandResult>;
    try { p = ports.runner.run(command, lane); } catch (err) {
      p = Promise.resolve({ exitCode: undefined, timedOut: false, failed: true, durationMs: 0, stderrTail: String(err) });
    }
    void p.then((r) => r, (err: unknown): CommandResult => ({ exitCode: undefined, timedOut: false, failed: true, durationMs: 0, stderrTail: String(err) }))
      .then((r) => {
        this.#inflight--;
        if (r.failed) this.#d.klog.line(knockdFailLine(door, r));
        this.feed(engine.done(op, r, ports.now()));
      });
  }

  #setFilter(expr: string): void {
    if (expr === this.#filter || !this.#d.capture) return;
    try {
      this.#d.capture.setFilter(expr);
      this.#filter = expr;
    } catch (err) {
      this.#d.ports.logger.log('error', { err: String(err) }, 'capture filter could not be replaced; the previous one stays');
    }
  }

  #ots(i: number, door: string, path: string, used: Parameters<DaemonPorts['consumeOts']>[1]): void {
    const { engine, ports } = this.#d;
    let next: Parameters<Engine['otsRotated']>[1];
    try {
      next = ports.consumeOts(path, used);
      if (!next || next.length === 0) this.#d.klog.line(`no more sequences left in the one time sequences file for door ${door} --> disabling the door`);
      else if (this.#d.debug) ports.out(`new sequence for door ${door}: ${next.map((h) => `${h.port}:${h.proto}`).join(',')}\n`);
    } catch (err) {
      next = undefined;
      this.#d.klog.line(`error while disabling used one time sequence for door ${door} --> disabling the door`);
      ports.logger.log('error', { err: String(err), door }, 'one-time sequence rotation failed; door disabled');
    }
    this.#queue.push(engine.otsRotated(i, next));
  }

  #arm(): void {
    const { engine, ports } = this.#d;
    const at = engine.nextDeadline();
    if (at === this.#timerAt) return;
    this.#timer?.cancel();
    this.#timer = undefined;
    this.#timerAt = at;
    if (at === undefined) return;
    const handle = ports.setTimer(() => {
      if (this.#timer !== handle) return;
      this.#timer = undefined;
      this.#timerAt = undefined;
      this.feed(engine.tick(ports.now()));
    }, Math.max(0, at - ports.now()));
    this.#timer = handle;
  }
}

/** knockd's log line for a command that did not succeed. */
function knockdFailLine(door: string, r: CommandResult): string {
  if (r.lost) return `${door}: command outcome unknown (the command runner exited while it ran)`;
  if (r.exitCode !== undefined && r.exitCode !== 0) return `${door}: command returned non-zero status code (${r.exitCode})`;
  if (r.timedOut || r.signal) return `${door}: command ${r.timedOut ? 'timed out' : 'was killed'}${r.signal ? ` (${r.signal})` : ''}`;
  return `error: command fork failed! (${failureText(r)})`;
}
