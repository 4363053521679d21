/**
 * nftables set doors (`nft_set` / `nft_set_6`, Door.nft), pure, beside the command machine
 * (doors.ts): a door with both runs both. The daemon applies the lines on its nft channel
 * (io/nft.ts: one long-lived `nft`, no process per change, no command lane to wait in) and
 * feeds the answers back (`done`). One slot per (set, address): a live lease, deletes owed.
 *  - grant, no live lease: a new lease; one batch adds the element with the granted time as its
 *    timeout and `knockd lease=ID key=NAME` as its comment (core/firewall/nft.ts).
 *  - grant, live lease: extended; the same lines with the time left replace the element in one
 *    transaction (add; delete; add), so it is never absent. One batch per lease at a time: a
 *    re-knock while one is in flight is sent when it is answered.
 *  - expiry: the kernel removes the element by itself; the lease is forgotten at its expiry,
 *    `door.close` (timeout), no command. The daemon may be dead by then: the door still closes.
 *  - revocation, shutdown with CloseOnExit: the element is deleted (idempotent lines, up to
 *    NFT_CLOSE_CHUNK leases per batch); a delete nft refuses is retried (1, 2, 5, 10, 30, 60 s)
 *    until it succeeds or the element's own timeout has passed.
 *  - nft refuses an open: `command.fail` (command 'nft', error), the lease goes. Outcome unknown
 *    (nft died while it ran): kept as open, as a start command whose outcome is unknown.
 *  - start-up: leases are rebuilt from the elements the sets hold (restore): ours by their
 *    comment, with the time they have left; elements with any other comment are left alone.
 * Nothing is journalled: the kernel holds the state and enforces the expiry.
 */
import type { CloseReason, Principal } from '../audit/events.js';
import type { Door } from '../config/types.js';
import { DEFAULT_MAX_LEASES } from '../actions/leases.js';
import { nftCloseLines, nftOpenLines, nftTarget, setText, type NftTarget } from '../firewall/nft.js';
import type { NftListedElement } from '../firewall/nft-list.js';
import { Deadlines } from './deadlines.js';
import type { Effect, NftResult } from './effects.js';
import { refuseRecord } from './door-records.js';
import { DEFAULT_RETRY_DELAYS_MS } from './doors.js';
import { leasesFromElements, nftCloseRecords, nftExtendRecords, nftFailRecords, nftOpenRecords, nftRearmRecords, portsText, type NftLease } from './nft-records.js';
import type { DoorMachineOptions, GrantRequest } from './slots.js';

export type { NftLease } from './nft-records.js';

/** Leases deleted in one batch (one nft transaction) on revocation or shutdown. */
export const NFT_CLOSE_CHUNK = 128;

interface Closing { readonly lease: NftLease; readonly reason: CloseReason; attempts: number; retryAt: number; op?: number | undefined; lastError?: string }
interface Slot { readonly key: string; live?: NftLease | undefined; closing: Closing[] }
type Op =
  | { readonly kind: 'open' | 'refresh'; readonly slot: Slot; readonly lease: NftLease; readonly expiresAt: number }
  | { readonly kind: 'close'; readonly items: readonly Closing[] };

export interface NftLeaseView { readonly lease: NftLease; readonly state: 'opening' | 'open' | 'closing' | 'retry'; readonly attempts?: number; readonly lastError?: string }

const slotKey = (set: string, ip: string): string => `${set}\u0000${ip}`;

export class NftDoors {
  readonly #slots = new Map<string, Slot>();
  readonly #ops = new Map<number, Op>();
  readonly #deadlines = new Deadlines();
  readonly #max: number;
  readonly #retry: readonly number[];
  #count = 0;
  #opSeq = 0;
  #idSeq = 0;

  constructor(o: DoorMachineOptions = {}) {
    this.#max = o.maxLeases ?? DEFAULT_MAX_LEASES;
    this.#retry = o.retryDelaysMs && o.retryDelaysMs.length > 0 ? o.retryDelaysMs : DEFAULT_RETRY_DELAYS_MS;
  }

  /** Leases held (live and closing). */
  get size(): number { return this.#count; }
  nextDeadline(): number | undefined { return this.#deadlines.peek(); }

  /** No batch in flight and no delete due: what shutdown waits for. */
  settled(now: number): boolean {
    if (this.#ops.size > 0) return false;
    for (const s of this.#slots.values()) if (s.closing.some((c) => c.retryAt <= now && c.lease.expiresAt > now)) return false;
    return true;
  }

  leases(): NftLeaseView[] {
    const out: NftLeaseView[] = [];
    for (const s of this.#slots.values()) {
      if (s.live) out.push({ lease: s.live, state: s.live.state });
      for (const c of s.closing) out.push({ lease: c.lease, state: c.op !== undefined ? 'closing' : 'retry', attempts: c.attempts, ...(c.lastError ? { lastError: c.lastError } : {}) });
    }
    return out;
  }

  grant(req: GrantRequest, now: number): Effect[] {
    const t = nftTarget(req.door, req.ip.family);
    if (!t) return [];
    const fx: Effect[] = [];
    const set = setText(t.set);
    const key = slotKey(set, req.ip.text);
    const slot = this.#slots.get(key) ?? { key, closing: [] };
    const ttlMs = Math.max(0, req.grantedTtl) * 1000;
    const live = slot.live;
    if (live) {
      live.expiresAt = Math.max(live.expiresAt, now + ttlMs);
      live.grantedTtl = req.grantedTtl;
      live.requestedTtl = req.requestedTtl;
      fx.push(...nftExtendRecords(live, req));
      if (live.op === undefined) this.#send('refresh', slot, live, now, fx); else live.dirty = true;
      this.#schedule(slot);
      return fx;
    }
    if (ttlMs <= 0) {
      fx.push({ kind: 'log', level: 'info', msg: 'nothing opened: the granted time is 0', fields: { door: req.door.name, ip: req.ip.text, set } });
      return fx;
    }
    if (this.#count >= this.#max) {
      fx.push({ kind: 'log', level: 'warn', msg: 'lease table full, open refused', fields: { door: req.door.name, ip: req.ip.text, max: this.#max } });
      fx.push(refuseRecord(req, 'lease-table-full'));
      return fx;
    }
    if (req.admit && !req.admit()) { fx.push(refuseRecord(req, 'open-rate')); return fx; }
    const lease: NftLease = {
      id: `${now.toString(36)}-n${(++this.#idSeq).toString(36)}`, doorIndex: req.doorIndex, door: req.door.name, ip: req.ip,
      src: req.src, principal: req.principal, target: t, set, ports: req.ports ?? portsText(req.door), openedAt: now,
      expiresAt: now + ttlMs, grantedTtl: req.grantedTtl, requestedTtl: req.requestedTtl, state: 'opening', applied: now, dirty: false,
    };
    // deletes of this element not sent yet would remove the new one: the open takes the element over
    slot.closing = slot.closing.filter((c) => {
      if (c.op === undefined) { this.#count--; fx.push(...nftCloseRecords(c.lease, c.reason, c.attempts)); }
      return c.op !== undefined;
    });
    slot.live = lease;
    this.#slots.set(key, slot);
    this.#count++;
    this.#send('open', slot, lease, now, fx);
    this.#schedule(slot);
    return fx;
  }

  done(op: number, r: NftResult, now: number): Effect[] {
    const o = this.#ops.get(op);
    if (!o) return [];
    this.#ops.delete(op);
    if (o.kind === 'close') return this.#closeDone(o.items, r, now);
    const { slot, lease } = o;
    const fx: Effect[] = [];
    lease.op = undefined;
    if (r.ok || r.unknown) {
      if (!r.ok) fx.push(...nftFailRecords(lease, r.error, { lost: true }));
      lease.applied = Math.max(lease.applied, o.expiresAt);
      if (o.kind === 'open') {
        lease.state = 'open';
        if (r.ok) fx.push(...nftOpenRecords(lease));
      }
    } else {
      fx.push(...nftFailRecords(lease, r.error));
      if (o.kind === 'refresh') lease.expiresAt = lease.applied;   // the kernel keeps the timeout it had
      else this.#dropFailed(slot, lease);
    }
    if (slot.live === lease && lease.dirty && lease.expiresAt > now) this.#send('refresh', slot, lease, now, fx);
    this.#schedule(slot);
    return fx;
  }

  /** Delete the elements of the leases matching `pred` now (revocation, shutdown). */
  closeWhere(pred: (l: { readonly principal: Principal }) => boolean, reason: CloseReason, now: number): Effect[] {
    const fx: Effect[] = [];
    const due: Closing[] = [];
    for (const slot of this.#slots.values()) {
      for (const c of slot.closing) if (c.op === undefined && pred(c.lease)) due.push(c);
      const l = slot.live;
      if (!l || !pred(l)) continue;
      slot.live = undefined;
      l.dirty = false;
      const c: Closing = { lease: l, reason, attempts: 0, retryAt: now };
      slot.closing.push(c);
      due.push(c);
    }
    this.#sendCloses(due, now, fx);
    for (const slot of [...this.#slots.values()]) this.#schedule(slot);
    return fx;
  }

  /** Expired leases are forgotten (the kernel removed their elements); deletes whose retry time came. */
  tick(now: number): Effect[] {
    const fx: Effect[] = [];
    const due: Closing[] = [];
    const touched: Slot[] = [];
    for (const key of this.#deadlines.popDue(now)) {
      const slot = this.#slots.get(key);
      if (!slot) continue;
      touched.push(slot);
      const l = slot.live;
      if (l && l.state === 'open' && l.op === undefined && l.expiresAt <= now) {
        slot.live = undefined;
        this.#count--;
        fx.push(...nftCloseRecords(l, 'timeout'));
      }
      slot.closing = slot.closing.filter((c) => {
        if (c.op !== undefined) return true;
        if (c.lease.expiresAt <= now) {   // the kernel removed it while the delete kept failing
          this.#count--;
          fx.push(...nftCloseRecords(c.lease, 'timeout', c.attempts));
          return false;
        }
        if (c.retryAt <= now) due.push(c);
        return true;
      });
    }
    this.#sendCloses(due, now, fx);
    for (const s of touched) this.#schedule(s);
    return fx;
  }

  /**
   * Start-up (and sets new after a reload): leases from the elements a door's set holds. Ours by
   * their comment (lease id, key name), with the time they have left; `keyId` finds an SPA key's
   * id. Elements already known, without a timeout, or of another family are skipped.
   */
  restore(doorIndex: number, door: Door, target: NftTarget, elements: readonly NftListedElement[], keyId: (name: string) => string | undefined, now: number): Effect[] {
    const fx: Effect[] = [];
    for (const lease of leasesFromElements(doorIndex, door, target, elements, keyId, now)) {
      const key = slotKey(lease.set, lease.ip.text);
      const slot = this.#slots.get(key) ?? { key, closing: [] };
      if (slot.live || this.#count >= this.#max) continue;
      slot.live = lease;
      this.#slots.set(key, slot);
      this.#count++;
      fx.push(...nftRearmRecords(lease));
      this.#schedule(slot);
    }
    return fx;
  }

  // ---------------------------------------------------------------------------------------

  #send(kind: 'open' | 'refresh', slot: Slot, lease: NftLease, now: number, fx: Effect[]): void {
    const owner = { lease: lease.id, ...(lease.principal.kind === 'spa' ? { key: lease.principal.key } : {}) };
    const p = nftOpenLines(lease.target, lease.ip, lease.expiresAt - now, owner);
    lease.dirty = false;
    if (!p.ok) {
      fx.push(...nftFailRecords(lease, p.error));
      if (kind === 'open') this.#dropFailed(slot, lease);
      return;
    }
    const op = (lease.op = ++this.#opSeq);
    this.#ops.set(op, { kind, slot, lease, expiresAt: lease.expiresAt });
    fx.push({ kind: 'nft', op, lines: p.lines });
  }

  /** nft refused the open: the lease goes (a delete already queued for it is not audited). */
  #dropFailed(slot: Slot, lease: NftLease): void {
    lease.failed = true;
    if (slot.live === lease) { slot.live = undefined; this.#count--; }
  }

  #sendCloses(due: readonly Closing[], now: number, fx: Effect[]): void {
    for (let i = 0; i < due.length; i += NFT_CLOSE_CHUNK) {
      const items: Closing[] = [], lines: string[] = [];
      for (const c of due.slice(i, i + NFT_CLOSE_CHUNK)) {
        const p = nftCloseLines(c.lease.target, c.lease.ip);
        if (!p.ok) { c.retryAt = Number.POSITIVE_INFINITY; c.lastError = p.error; fx.push(...nftFailRecords(c.lease, p.error)); continue; }
        items.push(c);
        lines.push(...p.lines);
      }
      if (items.length === 0) continue;
      const op = ++this.#opSeq;
      for (const c of items) { c.op = op; c.retryAt = now; }
      this.#ops.set(op, { kind: 'close', items });
      fx.push({ kind: 'nft', op, lines });
    }
  }

  #closeDone(items: readonly Closing[], r: NftResult, now: number): Effect[] {
    const fx: Effect[] = [];
    for (const c of items) {
      c.op = undefined;
      c.attempts++;
      const slot = this.#slots.get(slotKey(c.lease.set, c.lease.ip.text));
      if (r.ok || c.lease.failed) {
        if (slot) slot.closing = slot.closing.filter((x) => x !== c);
        this.#count--;
        if (!c.lease.failed) fx.push(...nftCloseRecords(c.lease, c.reason, c.attempts));
      } else {
        c.retryAt = now + (this.#retry[Math.min(c.attempts - 1, this.#retry.length - 1)] as number);
        c.lastError = r.error;
        fx.push(...nftFailRecords(c.lease, r.error, { attempt: c.attempts, retryAt: c.retryAt }));
      }
      if (slot) this.#schedule(slot);
    }
    return fx;
  }

  /** Keeps the slot's deadline (expiry of the live lease, or the next delete retry) in the heap; forgets empty slots. */
  #schedule(slot: Slot): void {
    if (!slot.live && slot.closing.length === 0) {
      this.#slots.delete(slot.key);
      this.#deadlines.set(slot.key, undefined);
      return;
    }
    let at: number | undefined = slot.live?.state === 'open' && slot.live.op === undefined ? slot.live.expiresAt : undefined;
    for (const c of slot.closing) {
      if (c.op !== undefined) continue;
      const t = Math.min(c.retryAt, c.lease.expiresAt);
      if (at === undefined || t < at) at = t;
    }
    this.#deadlines.set(slot.key, at);
  }
}
