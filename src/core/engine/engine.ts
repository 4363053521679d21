/**
 * The daemon's decisions, as one deterministic step: an input (a decoded packet, an SPA
 * datagram, a timer tick, a command result, a reload, a new keyring, shutdown) plus the current
 * state → the effects to perform (core/engine/effects.ts). No I/O, no clock: `now` comes in.
 *
 *   packet ─┬─ SPA port, pcap mode → SpaVerifier → spa-events.ts ─┐ ┌─ DoorMachine (doors.ts): commands
 *           └─ SequenceMatcher → knock-events.ts ─────────────────┴─┴─ NftDoors (nft-doors.ts): set elements
 *
 * The daemon (src/daemon) owns the ports (capture, runner, journal, logs, keystore, timers),
 * executes the effects in order and feeds results back. State changes only here.
 */
import type { Config, Door, Hit } from '../config/types.js';
import type { Keyring } from '../keys/keyring.js';
import { SequenceMatcher } from '../knock/matcher.js';
import { buildFilter } from '../packet/bpf.js';
import { KeyedBuckets, TokenBucket, type BucketSpec } from '../spa/ratelimit.js';
import type { SpaVerifier } from '../spa/verify.js';
import type { Packet } from '../types.js';
import type { CloseReason } from '../audit/events.js';
import { DoorMachine, type LeaseView } from './doors.js';
import type { CommandResult, Effect, NftResult } from './effects.js';
import { NftDoors, type NftLeaseView } from './nft-doors.js';
import { nftTarget, setText } from '../firewall/nft.js';
import type { NftListedElement } from '../firewall/nft-list.js';
import type { Principal } from '../audit/events.js';
import { knockEffects } from './knock-events.js';
import { RejectCounter } from './rejects.js';
import type { DoorMachineOptions, GrantRequest } from './slots.js';
import { spaEffects } from './spa-events.js';
import type { Lease } from '../actions/leases.js';

/** Everything a configuration needs; built by the daemon (the parts that can fail) before a swap. */
export interface EngineSetup {
  readonly config: Config;
  /** The capture interface's addresses (canonical); [] = every destination counts as local. */
  readonly localAddrs: readonly string[];
  readonly ipv6: boolean;
  /** Present when the config has SPA doors. */
  readonly verifier?: SpaVerifier | undefined;
  readonly keyring?: Keyring | undefined;
}

export interface EngineOptions {
  readonly machine?: DoorMachineOptions;
  /** -l: look up knockers' names for the log. */
  readonly lookup?: boolean;
  /** Random seed for the attempt table's hash index, so spoofed sources cannot be aimed at one bucket. */
  readonly hashSeed?: number;
}

/** Per classic door: new opens allowed per second (ClassicOpenRate), with a burst of four seconds' worth. */
export const classicRate = (c: Config): BucketSpec => ({ burst: 4 * c.options.classicOpenRate, perSecond: c.options.classicOpenRate });
const MAX_NAMES = 1024;
/** knockd logs a line per hit; under a spoofed flood that is the attacker writing our log: at most this many. */
export const PROGRESS_LINES: BucketSpec = { burst: 200, perSecond: 50 };

/** The libpcap filter for a setup (pure; the daemon applies it before swapping). */
export function filterFor(s: EngineSetup, doors: readonly Door[] = s.config.doors): string {
  const spa = s.verifier !== undefined && s.config.options.spaMode === 'pcap';
  return buildFilter({ doors, localAddrs: s.localAddrs, ipv6: s.ipv6, ...(spa ? { spaPort: s.config.options.spaPort } : {}) });
}

export class Engine {
  #s: EngineSetup;
  #doors: Door[];
  #matcher: SequenceMatcher;
  #spaAlsoKnock = false;
  readonly #machine: DoorMachine;
  readonly #nft: NftDoors;
  #budgets: KeyedBuckets;
  readonly #rejects = new RejectCounter();
  readonly #names = new Map<string, string>();
  readonly #progress = new TokenBucket(PROGRESS_LINES);
  #progressDropped = 0;
  readonly #lookup: boolean;
  readonly #hashSeed: number | undefined;
  #stopping = false;
  /** The keyring the verifier holds (it was built with the setup's). */
  #verifierKeys: Keyring | undefined;
  /** Bugs caught at the verifier boundary (never silently turned into rejects). */
  internalErrors = 0;

  constructor(s: EngineSetup, o: EngineOptions = {}) {
    this.#s = s;
    this.#verifierKeys = s.keyring;
    this.#hashSeed = o.hashSeed;
    this.#doors = [...s.config.doors];
    this.#matcher = this.#newMatcher();
    this.#machine = new DoorMachine(o.machine);
    this.#nft = new NftDoors(o.machine);
    this.#budgets = new KeyedBuckets(classicRate(s.config), 4096);
    this.#lookup = o.lookup ?? false;
    this.#refresh();
  }

  get config(): Config { return this.#s.config; }
  get doors(): readonly Door[] { return this.#doors; }
  get setup(): EngineSetup { return this.#s; }
  /** The capture filter for the doors as they are now (one-time sequences rotate them). */
  filter(): string { return filterFor(this.#s, this.#doors); }
  leases(now: number): LeaseView[] { return this.#machine.leases(now); }
  /** Doors open through nftables sets (not journalled: the kernel holds them). */
  nftLeases(): NftLeaseView[] { return this.#nft.leases(); }
  /** Nothing running or starting and no stop or element delete due (what shutdown waits for). */
  settled(now: number): boolean { return this.#machine.settled(now) && this.#nft.settled(now); }
  get attempts(): number { return this.#matcher.size(); }

  nextDeadline(): number | undefined {
    const m = this.#matcher.nextDeadline();
    const c = [m === undefined ? undefined : m + 1, this.#machine.nextDeadline(), this.#nft.nextDeadline(), this.#rejects.due()].filter((x): x is number => x !== undefined);
    return c.length ? Math.min(...c) : undefined;
  }

  packet(p: Packet, rxMs: number, now: number): Effect[] {
    if (this.#stopping) return [];
    const o = this.#s.config.options;
    let fx: Effect[] = [];
    if (this.#s.verifier && o.spaMode === 'pcap' && p.proto === 'udp' && p.dstPort === o.spaPort) {
      fx = this.spa(p.payload, p.src, rxMs, now);
      if (!this.#spaAlsoKnock) return fx;
    }
    const evs = this.#matcher.offer(p, rxMs);
    return evs.length > 0 ? fx.concat(this.#knock(evs, now)) : fx;
  }

  /** An SPA datagram (pcap mode through packet(), socket mode directly). */
  spa(payload: Uint8Array, src: string, rxMs: number, now: number): Effect[] {
    const v = this.#s.verifier;
    if (!v || this.#stopping) return [];
    const bugs = v.stats.internalErrors;
    let r;
    try { r = v.check(payload, src, now); } catch (e) {
      this.internalErrors++;
      return [{ kind: 'log', level: 'error', msg: 'SPA verifier threw (a bug); datagram dropped', fields: { err: String(e), src } }];
    }
    if (v.stats.internalErrors !== bugs) {
      // the verifier caught its own exception and turned it into a reject: a bug, never silent
      this.internalErrors++;
      return [{ kind: 'log', level: 'error', msg: 'SPA verifier failed internally (a bug); datagram dropped', fields: { err: String(v.lastInternalError), src } }];
    }
    return spaEffects(r, src, rxMs, now, { keyring: this.#s.keyring, rejects: this.#rejects, grant: (q) => this.#grant(q, now) });
  }

  tick(now: number): Effect[] {
    const fx = this.#knock(this.#matcher.expire(now), now);
    fx.push(...this.#machine.tick(now), ...this.#nft.tick(now), ...this.#rejects.flush(now));
    return fx;
  }

  done(op: number, r: CommandResult, now: number): Effect[] { return this.#machine.done(op, r, now); }

  /** The answer to an `nft` effect. */
  nftDone(op: number, r: NftResult, now: number): Effect[] { return this.#nft.done(op, r, now); }

  /**
   * The elements an nft set holds (start-up, or a set new after a reload): ours become leases
   * again; those of keys now gone, revoked or expired are deleted at once.
   */
  nftRestore(set: string, elements: readonly NftListedElement[], now: number): Effect[] {
    const fx: Effect[] = [];
    this.#doors.forEach((d, i) => {
      for (const f of [4, 6] as const) {
        const t = nftTarget(d, f);
        if (t && setText(t.set) === set) fx.push(...this.#nft.restore(i, d, t, elements, (n) => this.#s.keyring?.byName(n)?.id, now));
      }
    });
    const k = this.#s.keyring;
    if (k) fx.push(...this.#nft.closeWhere(this.#dead(k, now), 'revoked', now));
    return fx;
  }

  /** Journal entries at start-up: re-arm or close. */
  restore(entries: readonly (Lease & { closing?: { reason: CloseReason; attempts: number; lastError?: string } })[], now: number): Effect[] {
    return this.#machine.restore(entries, now);
  }

  /** The one-time-sequence file gave the door's next sequence (undefined: none left, door disabled). */
  otsRotated(doorIndex: number, next: readonly Hit[] | undefined): Effect[] {
    const d = this.#doors[doorIndex];
    if (!d) return [];
    this.#setDoor(doorIndex, { ...d, sequence: [...(next ?? [])] });
    return [{ kind: 'filter', expr: this.filter() }];
  }

  /** -l: a knocker's name arrived. */
  named(src: string, name: string): void {
    if (this.#names.size < MAX_NAMES) this.#names.set(src, name);
  }

  /** Swap in a prepared configuration (the daemon applied `filterFor(s)` already). Attempts in progress restart. */
  reload(s: EngineSetup): Effect[] {
    if (s.config.options.classicOpenRate !== this.#s.config.options.classicOpenRate) this.#budgets = new KeyedBuckets(classicRate(s.config), 4096);
    this.#s = s;
    this.#doors = [...s.config.doors];
    this.#matcher = this.#newMatcher();
    this.#refresh();
    return [{ kind: 'log', level: 'info', msg: 'configuration reloaded', fields: { doors: s.config.doors.length } }];
  }

  /** A new keyring: takes effect for the next packet; doors of keys now gone, revoked or expired close. */
  keys(keyring: Keyring, now: number): Effect[] {
    // the same object means nothing changed on disk: no key objects are rebuilt
    if (keyring !== this.#verifierKeys) { this.#s.verifier?.setKeyring(keyring); this.#verifierKeys = keyring; }
    this.#s = { ...this.#s, keyring };
    const dead = this.#dead(keyring, now);
    return [...this.#machine.closeWhere(dead, 'revoked', now), ...this.#nft.closeWhere(dead, 'revoked', now)];
  }

  /** Refuse new knocks; with CloseOnExit close every lease (failed stops stay in the journal). */
  shutdown(closeOnExit: boolean, now: number): Effect[] {
    this.#stopping = true;
    const fx = this.#rejects.flush(now, true);
    if (closeOnExit) fx.push(...this.#machine.closeWhere(() => true, 'shutdown', now), ...this.#nft.closeWhere(() => true, 'shutdown', now));
    return fx;
  }

  // ---------------------------------------------------------------------------------------

  /** Sets first (they never wait), then commands; one open-rate token per grant even when both open. */
  #grant(q: GrantRequest, now: number): Effect[] {
    if (this.#stopping) return [];
    let admitted: boolean | undefined;
    const admit = q.admit;
    const once = admit ? { ...q, admit: () => (admitted ??= admit()) } : q;
    return [...this.#nft.grant(once, now), ...this.#machine.grant(once, now)];
  }

  /** SPA leases whose key is gone, revoked or expired. */
  #dead(keyring: Keyring, now: number): (l: { readonly principal: Principal }) => boolean {
    return (l) => {
      if (l.principal.kind !== 'spa') return false;
      const r = keyring.byName(l.principal.key);
      return !r || (r.revoked !== undefined && r.revoked <= now) || (r.expires !== undefined && r.expires <= now);
    };
  }

  #knock(evs: ReturnType<SequenceMatcher['offer']>, now: number): Effect[] {
    if (evs.length === 0) return [];
    return knockEffects(evs, {
      who: (src) => { const n = this.#names.get(src); return n ? `${src} (${n})` : src; },
      lookup: this.#lookup,
      progressLine: (line) => {
        if (!this.#progress.take(now)) { this.#progressDropped++; return []; }
        const fx: Effect[] = [];
        if (this.#progressDropped > 0) {
          fx.push({ kind: 'klog', line: `(${this.#progressDropped} stage and timeout lines not logged: more than ${PROGRESS_LINES.perSecond}/s)` });
          this.#progressDropped = 0;
        }
        fx.push({ kind: 'klog', line });
        return fx;
      },
      admit: (i) => this.#budgets.get(String(i)).take(now),
      consumed: (i, door) => {
        this.#setDoor(i, { ...door, sequence: [] });   // no second use while the file is rewritten
        return [{ kind: 'ots', doorIndex: i, door: door.name, path: door.oneTimeSequences as string, used: door.sequence }];
      },
      grant: (q) => this.#grant(q, now),
    });
  }

  #setDoor(i: number, d: Door): void {
    this.#doors[i] = d;
    this.#matcher.setDoor(i, d);
    this.#refresh();
  }

  #newMatcher(): SequenceMatcher {
    return new SequenceMatcher(this.#doors, {
      maxAttempts: this.#s.config.options.maxAttempts, localAddrs: this.#s.localAddrs,
      ...(this.#hashSeed !== undefined ? { hashSeed: this.#hashSeed } : {}),
    });
  }

  /** Whether the SPA port is also a UDP hit of some door; if not, SPA datagrams skip the matcher. */
  #refresh(): void {
    const port = this.#s.config.options.spaPort;
    this.#spaAlsoKnock = this.#doors.some((d) => d.sequence.some((h) => h.proto === 'udp' && h.port === port));
  }
}
