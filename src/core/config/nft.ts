/**
 * Door keys for nftables-set doors (an extension of knockd.conf):
 *
 *   nft_set     = FAMILY TABLE SET    set that admits IPv4 knockers; FAMILY is inet or ip
 *   nft_set_6   = FAMILY TABLE SET    set that admits IPv6 knockers; FAMILY is inet or ip6
 *   nft_element = addr | addr-port    what one element admits (default addr):
 *                                     addr      = the address, to every port of the door's `ports`
 *                                     addr-port = `address . proto . port`, one element per door port
 *
 * TABLE and SET are [A-Za-z_][A-Za-z0-9_]{0,63}: these names are written into nft commands, so
 * nothing else may pass (nft 1.0.6 has no quoting for identifiers; a name that is an nft keyword,
 * e.g. `counter`, is refused by nft itself when the daemon starts or `nft -f` loads the ruleset).
 * A door with a set needs `ports` (the ports the set admits, and what `knockd firewall --print
 * nft` guards), a `cmd_timeout` of 1 s or more (nft reads `timeout 0s` as "never expires"), and a
 * set of its own: an element does not say which door added it. Pure.
 */
import type { Hit, NftDoor, NftElementKind, NftFamily, NftSetRef } from './types.js';

export const NFT_NAME = /^[A-Za-z_][A-Za-z0-9_]{0,63}$/;
export const NFT_KEYS = ['NFT_SET', 'NFT_SET_6', 'NFT_ELEMENT'] as const;
export type NftKey = typeof NFT_KEYS[number];

export interface Problem { readonly error: string; readonly hint?: string }

/** The parser's mutable view of a door's nft settings (structurally an NftDoor). */
export interface NftBuilder { set4?: NftSetRef; set6?: NftSetRef; element: NftElementKind }

const q = (s: string): string => JSON.stringify(s);

/** `inet knockd allowed4` → NftSetRef, for the IPv4 (`nft_set`) or IPv6 (`nft_set_6`) key. */
export function parseNftSetRef(value: string, family: 4 | 6): { ok: true; ref: NftSetRef } | ({ ok: false } & Problem) {
  const words = value.split(/[ \t]+/).filter((w) => w !== '');
  const usage = `write FAMILY TABLE SET, e.g. "${family === 4 ? 'inet knockd allowed4' : 'inet knockd allowed6'}"`;
  if (words.length !== 3) return { ok: false, error: `expected 3 words (family, table, set), got ${words.length}`, hint: usage };
  const [fam, table, set] = words as [string, string, string];
  const allowed: readonly NftFamily[] = family === 4 ? ['inet', 'ip'] : ['inet', 'ip6'];
  if (!(allowed as readonly string[]).includes(fam)) {
    const other = family === 4 ? 'nft_set_6' : 'nft_set';
    return {
      ok: false, error: `family ${q(fam)} cannot hold IPv${family} addresses`,
      hint: fam === 'ip' || fam === 'ip6' ? `use ${allowed.join(' or ')}; ${fam} sets belong in ${other}` : `use ${allowed.join(' or ')}`,
    };
  }
  for (const [what, name] of [['table', table], ['set', set]] as const) {
    if (!NFT_NAME.test(name)) return { ok: false, error: `${what} name ${q(name)} is not 1-64 characters of A-Z a-z 0-9 _ (not starting with a digit)`, hint: usage };
  }
  return { ok: true, ref: { family: fam as NftFamily, table, set } };
}

/** Apply one `nft_*` key to a door's builder; a Problem when the value is not acceptable. */
export function nftDoorKey(b: NftBuilder, key: NftKey, value: string): Problem | undefined {
  if (key === 'NFT_ELEMENT') {
    const v = value.toLowerCase();
    if (v !== 'addr' && v !== 'addr-port') return { error: 'expected addr or addr-port', hint: 'addr admits the address to all door ports; addr-port adds address . proto . port per door port' };
    b.element = v;
    return undefined;
  }
  const r = parseNftSetRef(value, key === 'NFT_SET' ? 4 : 6);
  if (!r.ok) return r.hint === undefined ? { error: r.error } : { error: r.error, hint: r.hint };
  if (key === 'NFT_SET') b.set4 = r.ref; else b.set6 = r.ref;
  return undefined;
}

export const formatNftSetRef = (r: NftSetRef): string => `${r.family} ${r.table} ${r.set}`;

/** Identity of a set across families: `inet t s` and `ip t s` are different sets. */
const setKey = (r: NftSetRef): string => `${r.family} ${r.table} ${r.set}`;

/**
 * Whole-door checks of a door's nft settings, in file order. `seen` collects the sets of the
 * doors checked so far (set → door name and line), so a set named twice is caught.
 */
export function checkNftDoor(
  d: { readonly name: string; readonly line: number; readonly nft?: NftDoor; readonly ports?: readonly Hit[]; readonly cmdTimeout: number },
  seen: Map<string, { door: string; line: number }>,
): Problem | undefined {
  const n = d.nft;
  if (!n) return undefined;
  if (!n.set4 && !n.set6) return { error: 'nft_element is set but neither nft_set nor nft_set_6', hint: 'name the set: nft_set = inet knockd allowed4' };
  if (!d.ports || d.ports.length === 0) {
    return { error: 'a door with an nft set needs ports = PORT[:tcp|udp],...', hint: 'the ports its set admits, and the ports `knockd firewall --print nft` guards' };
  }
  if (d.cmdTimeout < 1) return { error: 'cmd_timeout = 0 with an nft set', hint: 'nft reads "timeout 0s" as "never expires"; use 1 or more seconds' };
  for (const ref of [n.set4, n.set6]) {
    if (!ref) continue;
    const prev = seen.get(setKey(ref));
    if (prev) {
      const where = prev.door === d.name && prev.line === d.line ? 'by nft_set and nft_set_6 of this door' : `by door '${prev.door}' (line ${prev.line})`;
      return { error: `set ${formatNftSetRef(ref)} is already used ${where}`, hint: 'each door and family needs a set of its own: an element does not say which door added it' };
    }
    seen.set(setKey(ref), { door: d.name, line: d.line });
  }
  return undefined;
}
