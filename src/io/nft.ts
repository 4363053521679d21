/**
 * NftChannel: the daemon's long-lived link to nftables. No process is started per change: one
 * `nft -j -i` child (src/io/nft-child.ts) takes every batch over a pipe.
 *
 * Why not netlink: Node has no netlink socket; it would need a native addon speaking the
 * nf_tables batch protocol, a second firewall implementation to trust. nft itself is the tool
 * users have, and through a pipe a batch costs ~0.2 ms here (bench/nft.ts).
 *
 * Contract:
 * - open() starts nft and checks every target set: it exists, has `flags timeout`, and its type
 *   fits the door's nft_element; otherwise it throws AppError('ERR_NFT') naming the set and what
 *   to do. nft missing from PATH is ERR_NFT too.
 * - apply(lines) sends the lines as ONE nft line, i.e. one transaction (all or nothing), and
 *   resolves when nft has answered it: `{ ok: true }`, or `{ ok: false, error }` with nft's
 *   error text for exactly this batch. If nft dies or does not answer within `ackTimeoutMs`,
 *   batches in flight resolve `{ ok: false, unknown: true }`: they may or may not have been
 *   applied (list() the set to know). Batches are applied in the order apply() was called.
 * - At most `maxQueued` batches wait; beyond that apply() fails at once. A dead nft is restarted
 *   (backoff 0.1 s doubling to 5 s); waiting batches are sent to the new process, or fail after
 *   `queueTimeoutMs` without having been sent.
 * - The child is replaced every `recycleAfter` batches (its history makes each line slower):
 *   a new one is started and checked first, the old one is drained, then the new one takes over,
 *   so order is kept and no batch waits for a start-up.
 * - Nothing here throws after open(); apply() and list() always resolve.
 */
import { AppError } from '../core/errors.js';
import type { NftSetRef } from '../core/config/types.js';
import { nftListLine, setText, setTypeText, type NftTarget } from '../core/firewall/nft.js';
import { parseNftListJson, type NftListedElement, type NftListedSet } from '../core/firewall/nft-list.js';
import { NftChild, handshake, resolveCommand, type ChildAnswer } from './nft-child.js';

export interface NftChannelOptions {
  /** The nft command; default ['nft'] looked up in PATH. Tests: ['ip', 'netns', 'exec', NS, 'nft']. */
  command?: readonly string[];
  /** Extra environment for nft (HOME is always /dev/null: no history file). */
  env?: Readonly<Record<string, string>>;
  /** Sets checked by open(). */
  targets?: readonly NftTarget[];
  ackTimeoutMs?: number;
  queueTimeoutMs?: number;
  maxQueued?: number;
  maxInFlight?: number;
  recycleAfter?: number;
  maxOutputBytes?: number;
  maxBatchBytes?: number;
  onEvent?: (e: NftChannelEvent) => void;
}

export type NftChannelEvent =
  | { kind: 'exit'; reason: string }            // nft died: batches in flight are unknown
  | { kind: 'restart'; pid?: number }
  | { kind: 'restart-failed'; reason: string; retryMs: number }
  | { kind: 'recycle'; pid?: number; batches: number }
  | { kind: 'warning'; text: string };           // output without "Error:" for a batch that succeeded

export type NftApplyResult = { ok: true } | { ok: false; error: string; unknown?: true };
export type NftListAnswer =
  | { ok: true; set: NftListedSet; elements: NftListedElement[]; skipped: number }
  | { ok: false; error: string; unknown?: true };

interface Queued { line: string; at: number; resolve: (a: ChildAnswer | { ok: false; unsent: string }) => void }

const BATCH_LINE = /^(add|delete|create|insert|replace|flush|reset|list|get|destroy) [\x20-\x7e]+$/;

/** Why a batch must not be sent (a newline, '#', ';', '\' would change how nft splits it), or undefined. */
export function batchProblem(lines: readonly string[], maxBytes: number): string | undefined {
  if (lines.length === 0) return 'empty batch';
  let bytes = 0;
  for (const l of lines) {
    if (!BATCH_LINE.test(l) || /[#;\\]/.test(l)) return `refused nft line ${JSON.stringify(l.slice(0, 80))}`;
    bytes += l.length + 2;
  }
  return bytes > maxBytes ? `batch of ${bytes} bytes, at most ${maxBytes}` : undefined;
}

export class NftChannel {
  readonly #argv: string[];
  readonly #o: Required<Omit<NftChannelOptions, 'command' | 'targets' | 'onEvent' | 'env'>>;
  readonly #env: Readonly<Record<string, string>>;
  readonly #emit: (e: NftChannelEvent) => void;
  readonly #queue: Queued[] = [];
  readonly #outstanding = new Set<Promise<unknown>>();
  #child: NftChild | undefined;
  #spare: NftChild | undefined;
  #switching = false;
  #nextRecycle: number;
  #backoff = 100;
  #restartTimer: NodeJS.Timeout | undefined;
  #closed = false;
  #children = 0;
  #batches = 0;

  private constructor(argv: string[], o: NftChannelOptions) {
    this.#argv = argv;
    this.#o = {
      ackTimeoutMs: o.ackTimeoutMs ?? 5000, queueTimeoutMs: o.queueTimeoutMs ?? 10_000, maxQueued: o.maxQueued ?? 4096,
      maxInFlight: o.maxInFlight ?? 64, recycleAfter: o.recycleAfter ?? 1000, maxOutputBytes: o.maxOutputBytes ?? 64 * 1024 * 1024,
      maxBatchBytes: o.maxBatchBytes ?? 1024 * 1024,
    };
    this.#emit = o.onEvent ?? (() => {});
    this.#env = o.env ?? {};
    this.#nextRecycle = this.#o.recycleAfter;
  }

  /** Start nft and check the target sets; throws AppError('ERR_NFT') when that fails. */
  static async open(opts: NftChannelOptions = {}): Promise<NftChannel> {
    const ch = new NftChannel(resolveCommand(opts.command ?? ['nft']), opts);
    const first = ch.#spawn();
    const hello = await handshake(first);
    if (!hello.ok) throw new AppError('ERR_NFT', `nft -i did not start: ${hello.reason} (the nft channel needs nft's interactive mode, nft -j -i)`);
    ch.#adopt(first);
    for (const t of opts.targets ?? []) {
      const r = await ch.list(t.set);
      const want = setTypeText(t.element, t.family);
      let problem: string | undefined;
      if (!r.ok) problem = r.error.split('\n')[0] ?? r.error;
      else if (!r.set.flags.includes('timeout')) problem = 'it has no "flags timeout"';
      else if (r.set.type !== want) problem = `its type is ${r.set.type}, the door needs ${want}`;
      if (problem !== undefined) {
        await ch.close();
        throw new AppError('ERR_NFT', `nft set ${setText(t.set)}: ${problem} (create the sets with: knockd firewall --print nft | nft -f -)`);
      }
    }
    return ch;
  }

  /** Apply the lines as one transaction. Never throws. */
  apply(lines: readonly string[]): Promise<NftApplyResult> {
    const bad = batchProblem(lines, this.#o.maxBatchBytes);
    if (bad !== undefined) return Promise.resolve({ ok: false, error: bad });
    return this.#track(this.#enqueue(lines.join('; ')).then((a): NftApplyResult => {
      if ('unsent' in a) return { ok: false, error: a.unsent };
      if (!a.ok) return { ok: false, error: a.reason, unknown: true };
      if (a.truncated) return { ok: false, error: 'nft output too long' };
      const text = a.lines.filter((l) => l.trim() !== '');
      if (text.some((l) => l.startsWith('Error:'))) return { ok: false, error: text.join('\n').slice(0, 2000) };
      if (text.length) this.#emit({ kind: 'warning', text: text.join('\n').slice(0, 2000) });
      return { ok: true };
    }));
  }

  /** The elements of a set as the kernel has them now. Never throws. */
  list(set: NftSetRef): Promise<NftListAnswer> {
    return this.#track(this.#enqueue(nftListLine(set)).then((a): NftListAnswer => {
      if ('unsent' in a) return { ok: false, error: a.unsent };
      if (!a.ok) return { ok: false, error: a.reason, unknown: true };
      if (a.truncated) return { ok: false, error: 'nft output too long' };
      const err = a.lines.filter((l) => l.trim() !== '' && !l.startsWith('{'));
      if (err.some((l) => l.startsWith('Error:'))) return { ok: false, error: err.join('\n').slice(0, 2000) };
      const json = a.lines.find((l) => l.startsWith('{'));
      if (json === undefined) return { ok: false, error: `nft printed no JSON for ${nftListLine(set)}` };
      return parseNftListJson(json, set);
    }));
  }

  /** Let batches already accepted finish (bounded), then stop nft. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    if (this.#restartTimer) clearTimeout(this.#restartTimer);
    if (!this.#child?.alive) this.#failQueued(0, 'nft channel closed');
    let t: NodeJS.Timeout | undefined;
    await Promise.race([
      Promise.allSettled([...this.#outstanding]),
      new Promise<void>((r) => { t = setTimeout(r, this.#o.ackTimeoutMs + 1000); }),
    ]);
    clearTimeout(t);
    this.#failQueued(0, 'nft channel closed');
    await Promise.all([this.#child?.end(), this.#spare?.end()]);
  }

  get stats(): { pid: number | undefined; children: number; batches: number; queued: number; inFlight: number } {
    return { pid: this.#child?.pid, children: this.#children, batches: this.#batches, queued: this.#queue.length, inFlight: this.#child?.inFlight ?? 0 };
  }

  #track<T>(p: Promise<T>): Promise<T> {
    this.#outstanding.add(p);
    void p.finally(() => this.#outstanding.delete(p));
    return p;
  }

  #enqueue(line: string): Promise<ChildAnswer | { ok: false; unsent: string }> {
    if (this.#closed) return Promise.resolve({ ok: false, unsent: 'nft channel closed' });
    if (this.#queue.length >= this.#o.maxQueued) return Promise.resolve({ ok: false, unsent: `nft queue full (${this.#queue.length} batches waiting)` });
    return new Promise((resolve) => {
      this.#queue.push({ line, at: Date.now(), resolve });
      this.#dispatch();
    });
  }

  #spawn(): NftChild {
    this.#children++;
    return new NftChild(this.#argv, { ackTimeoutMs: this.#o.ackTimeoutMs, maxLineBytes: this.#o.maxOutputBytes, env: this.#env });
  }

  #adopt(c: NftChild): void {
    this.#child = c;
    this.#nextRecycle = c.sent + this.#o.recycleAfter;
    void c.exited.then((why) => this.#onExit(c, why));
    this.#dispatch();
  }

  #dispatch(): void {
    const c = this.#child;
    if (!c?.alive) return;
    if (this.#switching) { this.#maybeSwitch(); return; }
    while (this.#queue.length && c.inFlight < this.#o.maxInFlight) {
      const q = this.#queue.shift() as Queued;
      this.#batches++;
      void c.send(q.line, this.#o.maxOutputBytes).then((a) => { q.resolve(a); this.#dispatch(); });
    }
    if (c.sent >= this.#nextRecycle && !this.#spare && !this.#closed) this.#recycle(c);
  }

  #recycle(old: NftChild): void {
    const spare = this.#spawn();
    this.#spare = spare;
    void handshake(spare).then((a) => {
      if (this.#spare !== spare) return;
      if (!a.ok || this.#closed || this.#child !== old) {
        this.#spare = undefined;
        spare.kill('not needed');
        this.#nextRecycle = old.sent + this.#o.recycleAfter;
        return;
      }
      this.#switching = true;
      this.#maybeSwitch();
    });
  }

  #maybeSwitch(): void {
    const old = this.#child;
    const spare = this.#spare;
    if (!spare) { this.#switching = false; return; }
    if (old?.alive && old.inFlight > 0) return;
    this.#spare = undefined;
    this.#switching = false;
    this.#emit({ kind: 'recycle', pid: spare.pid, batches: old?.sent ?? 0 });
    void old?.end();
    this.#adopt(spare);
  }

  #onExit(c: NftChild, why: string): void {
    if (c !== this.#child || this.#closed) return;
    this.#child = undefined;
    this.#emit({ kind: 'exit', reason: why });
    if (this.#switching && this.#spare?.alive) { this.#maybeSwitch(); return; }
    this.#scheduleRestart();
  }

  #scheduleRestart(): void {
    if (this.#closed || this.#restartTimer) return;
    this.#failQueued(this.#o.queueTimeoutMs, 'nft is not running');
    const wait = this.#backoff;
    this.#backoff = Math.min(5000, this.#backoff * 2);
    this.#restartTimer = setTimeout(() => {
      this.#restartTimer = undefined;
      const c = this.#spawn();
      void handshake(c).then((a) => {
        if (this.#closed) { void c.end(); return; }
        if (!a.ok) {
          this.#emit({ kind: 'restart-failed', reason: a.reason, retryMs: this.#backoff });
          this.#scheduleRestart();
          return;
        }
        this.#backoff = 100;
        this.#emit({ kind: 'restart', pid: c.pid });
        this.#adopt(c);
      });
    }, wait);
  }

  /** Fail queued (never sent) batches older than `ageMs`. */
  #failQueued(ageMs: number, why: string): void {
    const now = Date.now();
    for (let i = 0; i < this.#queue.length;) {
      const q = this.#queue[i] as Queued;
      if (now - q.at >= ageMs) { this.#queue.splice(i, 1); q.resolve({ ok: false, unsent: `${why}; batch not sent` }); } else i++;
    }
  }
}
