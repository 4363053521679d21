/**
 * Keyring: the enrolled keys, looked up by key id (what arrives on the wire) or name.
 * Immutable; a reload builds a new one. Pure.
 */
import { AppError } from '../errors.js';
import type { KeyRecord } from './record.js';

export class Keyring {
  readonly #byId = new Map<string, KeyRecord>();
  readonly #byName = new Map<string, KeyRecord>();

  /** Throws ERR_KEY_FILE on duplicate names or ids (two records for the same key). */
  constructor(records: readonly KeyRecord[]) {
    for (const r of records) {
      if (this.#byName.has(r.name)) throw new AppError('ERR_KEY_FILE', `duplicate key name '${r.name}'`);
      const other = this.#byId.get(r.id);
      if (other) throw new AppError('ERR_KEY_FILE', `keys '${other.name}' and '${r.name}' have the same key id ${r.id} (the same key enrolled twice)`);
      this.#byId.set(r.id, r);
      this.#byName.set(r.name, r);
    }
  }

  /** Lookup by hex16 key id. */
  byId(idHex: string): KeyRecord | undefined { return this.#byId.get(idHex); }
  byName(name: string): KeyRecord | undefined { return this.#byName.get(name); }
  list(): KeyRecord[] { return [...this.#byName.values()].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0)); }
  get size(): number { return this.#byName.size; }
}
