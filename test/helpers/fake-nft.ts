/**
 * A fake nftables behind the daemon's nft port (src/daemon/ports.ts NftPort), on the fake clock.
 * It keeps timed sets the way the kernel does and understands the lines the daemon writes
 * (core/firewall/nft.ts): `add element S { E timeout T comment "C", ... }` (adds, or refreshes
 * the timeout of an element that exists, as kernel 6.18 does) and `delete element S { E, ... }`
 * (fails when E is absent). One apply() is one transaction: all lines or none. Elements whose
 * time is up are gone. `list()` answers through the real JSON parser (parseNftListJson) from
 * the JSON nft -j prints. Batches are answered in order; `hold()` keeps them pending until
 * `release()`, `refuse` fails the next batches, `openError` makes open() fail (ERR_NFT).
 */
import { AppError } from '../../src/core/errors.js';
import type { NftSetRef } from '../../src/core/config/types.js';
import type { NftResult } from '../../src/core/engine/effects.js';
import { setText, type NftTarget } from '../../src/core/firewall/nft.js';
import { parseNftListJson } from '../../src/core/firewall/nft-list.js';
import type { NftPort } from '../../src/daemon/ports.js';

interface Element { expiresAt: number; timeoutMs: number; comment?: string }

const NO_SUCH = 'Error: Could not process rule: No such file or directory';

function ms(t: string): number {
  const m = /^(\d+)(ms|s)$/.exec(t);
  if (!m) throw new Error(`fake nft: bad time ${t}`);
  return Number(m[1]) * (m[2] === 's' ? 1000 : 1);
}

export class FakeNft {
  readonly sets = new Map<string, Map<string, Element>>();
  /** Every batch applied or refused, in order. */
  readonly batches: string[][] = [];
  /** Targets of every open(); closes counted. */
  readonly opened: NftTarget[][] = [];
  closes = 0;
  /** Fail this many of the next batches with this error. */
  refuse: { count: number; error: string; unknown?: true } | undefined;
  openError: string | undefined;
  #held: Array<() => void> | undefined;
  readonly #now: () => number;

  constructor(now: () => number, sets: readonly string[] = ['inet knockd ssh4', 'inet knockd ssh6', 'inet knockd web4', 'inet knockd web6']) {
    this.#now = now;
    for (const s of sets) this.sets.set(s, new Map());
  }

  /** Element keys present now (expired ones are gone). */
  elements(set: string): string[] {
    this.#expire();
    return [...(this.sets.get(set)?.keys() ?? [])];
  }
  element(set: string, key: string): Element | undefined { this.#expire(); return this.sets.get(set)?.get(key); }
  /** Put an element in from outside (a previous daemon, or an operator by hand). */
  put(set: string, key: string, timeoutMs: number, leftMs: number, comment?: string): void {
    this.sets.get(set)?.set(key, { expiresAt: this.#now() + leftMs, timeoutMs, ...(comment !== undefined ? { comment } : {}) });
  }
  hold(): void { this.#held ??= []; }
  release(): void { const h = this.#held ?? []; this.#held = undefined; for (const f of h) f(); }

  open = async (targets: readonly NftTarget[]): Promise<NftPort> => {
    if (this.openError) throw new AppError('ERR_NFT', this.openError);
    for (const t of targets) {
      if (!this.sets.has(setText(t.set))) throw new AppError('ERR_NFT', `nft set ${setText(t.set)}: ${NO_SUCH} (create the sets with: knockd firewall --print nft | nft -f -)`);
    }
    this.opened.push([...targets]);
    let closed = false;
    return {
      apply: (lines) => (closed ? Promise.resolve({ ok: false, error: 'nft channel closed' }) : this.#apply(lines)),
      list: (set) => Promise.resolve(this.#list(set)),
      close: async () => { if (!closed) { closed = true; this.closes++; } },
    };
  };

  #apply(lines: readonly string[]): Promise<NftResult> {
    const exec = (): NftResult => {
      this.batches.push([...lines]);
      if (this.refuse && this.refuse.count > 0) {
        this.refuse.count--;
        return { ok: false, error: this.refuse.error, ...(this.refuse.unknown ? { unknown: true as const } : {}) };
      }
      this.#expire();
      const copy = new Map([...this.sets].map(([k, v]) => [k, new Map(v)]));
      for (const l of lines) {
        const err = this.#line(copy, l);
        if (err) return { ok: false, error: `${err}\n${l}` };
      }
      for (const [k, v] of copy) this.sets.set(k, v);
      return { ok: true };
    };
    if (this.#held) { const h = this.#held; return new Promise((resolve) => h.push(() => resolve(exec()))); }
    return Promise.resolve(exec());
  }

  #line(sets: Map<string, Map<string, Element>>, line: string): string | undefined {
    const m = /^(add|delete) element (\S+ \S+ \S+) \{ (.*) \}$/.exec(line);
    if (!m) return `Error: syntax error (fake nft: ${line})`;
    const [, op, name, body] = m as unknown as [string, string, string, string];
    const set = sets.get(name);
    if (!set) return NO_SUCH;
    for (const item of body.split(', ')) {
      const e = /^(.+?)(?: timeout (\S+))?(?: comment "([^"]*)")?$/.exec(item);
      if (!e) return `Error: syntax error (fake nft: ${item})`;
      const [, key, timeout, comment] = e as unknown as [string, string, string | undefined, string | undefined];
      if (op === 'delete') {
        if (!set.delete(key)) return NO_SUCH;
        continue;
      }
      const t = timeout === undefined ? 0 : ms(timeout);
      const prev = set.get(key);
      set.set(key, { expiresAt: this.#now() + t, timeoutMs: t, ...(comment !== undefined ? { comment } : prev?.comment !== undefined ? { comment: prev.comment } : {}) });
    }
    return undefined;
  }

  #list(ref: NftSetRef): ReturnType<NftPort['list']> extends Promise<infer T> ? T : never {
    const name = setText(ref);
    const set = this.sets.get(name);
    if (!set) return { ok: false, error: NO_SUCH };
    this.#expire();
    const now = this.#now();
    const elem = [...set].map(([key, e]) => {
      const parts = key.split(' . ');
      const val = parts.length === 3 ? { concat: [parts[0], parts[1], Number(parts[2])] } : key;
      return { elem: { val, timeout: Math.floor(e.timeoutMs / 1000), expires: Math.floor((e.expiresAt - now) / 1000), ...(e.comment !== undefined ? { comment: e.comment } : {}) } };
    });
    const json = JSON.stringify({ nftables: [{ metainfo: { json_schema_version: 1 } }, { set: { family: ref.family, name: ref.set, table: ref.table, type: 'ipv4_addr', flags: ['timeout'], elem } }] });
    const r = parseNftListJson(json, ref);
    return r.ok ? { ok: true, elements: r.elements } : r;
  }

  #expire(): void {
    const now = this.#now();
    for (const s of this.sets.values()) for (const [k, e] of s) if (e.expiresAt <= now) s.delete(k);
  }
}
