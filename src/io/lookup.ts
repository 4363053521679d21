/**
 * Name resolution for the client, in a module of its own: it is only ever loaded by dynamic
 * import, when a host name (not an IP literal) has to be resolved, so a knock to an address
 * never loads node:dns and its c-ares binding (the bundle, scripts/bundle.mjs, initializes a
 * module reached only that way on first use). Measured in a fresh process: a dgram connect to a
 * literal 5.0 -> 3.8 ms without node:dns (issue 11).
 */
import { lookup, type LookupAddress, type LookupOneOptions } from 'node:dns';

/** dns.lookup (one address) as a promise; not node:dns/promises, another ~0.7 ms to load. */
export function lookupAddress(host: string, opts: LookupOneOptions): Promise<LookupAddress> {
  return new Promise((resolve, reject) => {
    lookup(host, opts, (err, address, family) => { if (err) reject(err); else resolve({ address, family }); });
  });
}

export { lookup };
