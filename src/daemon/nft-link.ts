/**
 * The daemon's nft channel over its life (used by daemon.ts): opened at start when a door has
 * an nft set, opened anew on a reload only when the sets change (the new channel is started and
 * its sets checked before anything is swapped; the old one is drained and closed after), closed
 * at stop. Reconcile: the elements each set holds become the engine's leases again (ours by
 * their comment, with the time they have left), at start and for sets new after a reload.
 */
import { AppError } from '../core/errors.js';
import type { Config, NftSetRef } from '../core/config/types.js';
import type { Engine } from '../core/engine/engine.js';
import type { Effect } from '../core/engine/effects.js';
import { nftTargets, setText, type NftTarget } from '../core/firewall/nft.js';
import type { DaemonPorts, NftPort } from './ports.js';

/** A channel prepared for a config: `port` undefined when the config has no nft doors. */
export interface PreparedNft { readonly key: string; readonly sets: readonly NftSetRef[]; readonly port: NftPort | undefined }

const keyOf = (ts: readonly NftTarget[]): string => [...new Set(ts.map((t) => `${setText(t.set)}:${t.family}:${t.element}`))].sort().join(',');

export class NftLink {
  readonly #ports: DaemonPorts;
  #port: NftPort | undefined;
  #key = '';
  #sets: readonly NftSetRef[] = [];

  constructor(ports: DaemonPorts) { this.#ports = ports; }

  get port(): NftPort | undefined { return this.#port; }

  /** Whether `c` needs another channel than the one running (its sets differ). */
  changes(c: Config): boolean { return keyOf(nftTargets(c)) !== this.#key; }

  /** Start and check a channel for `c`'s sets; changes nothing running. Throws AppError('ERR_NFT'). */
  async prepare(c: Config): Promise<PreparedNft> {
    const targets = nftTargets(c);
    const sets = [...new Map(targets.map((t) => [setText(t.set), t.set])).values()];
    if (targets.length === 0) return { key: '', sets, port: undefined };
    if (!this.#ports.openNft) throw new AppError('ERR_NFT', `door '${c.doors.find((d) => d.nft)?.name ?? '?'}' has nft_set, but this daemon has no nft channel`);
    return { key: keyOf(targets), sets, port: await this.#ports.openNft(targets) };
  }

  /** Swap in a prepared channel; the old one closes once its batches are answered. Returns the sets that are new. */
  commit(p: PreparedNft): NftSetRef[] {
    const old = this.#port;
    const had = new Set(this.#sets.map(setText));
    this.#port = p.port;
    this.#key = p.key;
    this.#sets = p.sets;
    if (old && old !== p.port) void old.close();
    return p.sets.filter((s) => !had.has(setText(s)));
  }

  /** List each set and give its elements to the engine; a set that cannot be listed is logged (its elements still expire on time). */
  async reconcile(sets: readonly NftSetRef[], engine: Engine, feed: (fx: Effect[]) => void): Promise<void> {
    const port = this.#port;
    if (!port) return;
    const { logger, now } = this.#ports;
    for (const s of sets) {
      const r = await port.list(s);
      if (!r.ok) {
        logger.log('error', { set: setText(s), err: r.error.split('\n')[0] }, 'cannot list an nft set: its elements are not tracked (they still expire on time)');
        continue;
      }
      const fx = engine.nftRestore(setText(s), r.elements, now());
      const ours = fx.filter((e) => e.kind === 'audit' && e.event.event === 'door.rearm').length;
      feed(fx);
      logger.log('info', { set: setText(s), elements: r.elements.length, rearmed: ours }, 'nft set reconciled');
    }
  }

  async close(): Promise<void> {
    const p = this.#port;
    this.#port = undefined;
    await p?.close();
  }
}
