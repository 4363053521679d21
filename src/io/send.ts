/**
 * Client-side sending: one TCP SYN per TCP hit, one datagram per UDP hit, and the
 * getaddrinfo-like resolution of `host` + `service` that knock 0.8 does for every port.
 *
 * tcpHit mirrors knock.c: non-blocking connect() to an IP literal, then close() at once.
 * Closing a socket in SYN-SENT state makes the kernel forget it, so exactly one SYN leaves
 * and nothing is retransmitted even when the server drops it.
 */
import { connect, isIP, type Socket as TcpSocket } from 'node:net';
import { createSocket, type Socket as UdpSocket, type SocketOptions } from 'node:dgram';
import { readFileSync } from 'node:fs';
import { AppError } from '../core/errors.js';
import { parseIp } from '../core/ip.js';

export type Family = 4 | 6;

/** Send one SYN to addr:port (an IP literal) and close the socket. Never rejects. */
export function tcpHit(addr: string, family: Family, port: number): Promise<void> {
  return new Promise<void>((resolve) => {
    let sock: TcpSocket;
    try {
      // Node issues connect() on the next tick for IP literals (no lookup happens).
      sock = connect({ host: addr, port, family });
    } catch {
      resolve();
      return;
    }
    sock.on('error', () => { /* refused / unreachable: ignored, like knock */ });
    let finished = false;
    const finish = () => {
      if (finished) return;
      finished = true;
      clearTimeout(cap);
      sock.destroy();
      resolve();
    };
    // setImmediate runs after the nextTick queue, i.e. after the connect syscall was made;
    // a 2 ms cap guards against any reordering. 'connect'/'error' end it earlier.
    const cap = setTimeout(finish, 2);
    setImmediate(finish);
    sock.once('connect', finish);
    sock.once('error', finish);
  });
}

/**
 * dgram's address lookup for sockets that are only given IP literals (resolved addresses; an
 * implicit bind is to the wildcard address): the answer dns.lookup gives for a literal, without
 * loading node:dns, its c-ares binding and its address expressions, which dgram's default lookup
 * does even for literals (a fresh dgram connect: 5.0 -> 3.8 ms). Anything else goes to dns.lookup.
 */
export const literalLookup: NonNullable<SocketOptions['lookup']> = (address, opts, cb) => {
  const ip = parseIp(address);
  if (ip) process.nextTick(cb, null, address, ip.family);
  else void import('./lookup.js').then((m) => m.lookup(address, opts, cb), (e: Error) => cb(e, '', 0));
};

/** Send one datagram (default: a single 0x00 byte, as knock does) to addr:port. Never rejects. */
export function udpHit(addr: string, family: Family, port: number, payload: Uint8Array = Buffer.of(0)): Promise<void> {
  return new Promise<void>((resolve) => {
    let sock: UdpSocket;
    try {
      sock = createSocket({ type: family === 6 ? 'udp6' : 'udp4', lookup: literalLookup });
    } catch {
      resolve();
      return;
    }
    sock.on('error', () => { /* ignored */ });
    const done = () => {
      try { sock.close(); } catch { /* already closed */ }
      resolve();
    };
    try {
      sock.send(payload, port, addr, () => done());
    } catch {
      done();
    }
  });
}

// ---------------------------------------------------------------------------------------------
// Resolution

export interface Resolved { address: string; family: Family; port: number }

/** Resolution failure; `message` is knock's first line, `detail` the gai_strerror() text. */
export class ResolveError extends AppError {
  readonly detail: string;
  constructor(host: string, service: string, detail: string) {
    super('ERR_RESOLVE', `Failed to resolve hostname '${host}' on port ${service}`);
    this.detail = detail;
  }
}

const EAI_SERVICE = 'Servname not supported for ai_socktype';
const EAI_ADDRFAMILY = 'Address family for hostname not supported';

/**
 * glibc's numeric service rule: strtoul() (leading white space, optional sign, decimal digits,
 * ERANGE saturates), stored in an int; the whole string must be consumed and the int must
 * not be negative. The port is the low 16 bits (70000 -> 4464, "" -> 0).
 * Returns undefined when the text is not numeric in that sense (then it is a service name).
 */
export function numericService(text: string): number | undefined {
  const m = /^[ \t\n\v\f\r]*([+-]?)(\d*)$/.exec(text);
  if (!m) return undefined;
  const sign = m[1] ?? '';
  const digits = m[2] ?? '';
  if (digits === '') {
    // strtoul consumed nothing: the whole string is consumed only when it was empty.
    return text === '' ? 0 : undefined;
  }
  const ULONG_MAX = (1n << 64n) - 1n;
  let v = BigInt(digits);
  if (v > ULONG_MAX) v = ULONG_MAX;
  else if (sign === '-') v = BigInt.asUintN(64, -v);
  const asInt = BigInt.asIntN(32, v);
  if (asInt < 0n) return undefined;
  return Number(asInt & 0xffffn);
}

let servicesCache: { path: string; entries: { names: string[]; port: number; proto: string }[] } | undefined;

function servicesDb(path: string): { names: string[]; port: number; proto: string }[] {
  if (servicesCache && servicesCache.path === path) return servicesCache.entries;
  const entries: { names: string[]; port: number; proto: string }[] = [];
  let text = '';
  try { text = readFileSync(path, 'utf8'); } catch { /* no services file: names never resolve */ }
  for (const raw of text.split('\n')) {
    const line = raw.replace(/#.*/, '').trim();
    if (line === '') continue;
    const f = line.split(/\s+/);
    const name = f[0];
    const pp = /^(\d+)\/(\S+)$/.exec(f[1] ?? '');
    if (!name || !pp) continue;
    const port = Number(pp[1]);
    if (port > 65535) continue;
    entries.push({ names: [name, ...f.slice(2)], port, proto: (pp[2] ?? '').toLowerCase() });
  }
  servicesCache = { path, entries };
  return entries;
}

/**
 * getservbyname() over /etc/services as getaddrinfo() with ai_socktype 0 uses it: protocols
 * are tried in the order tcp, udp, dccp, udplite, sctp and the first result wins.
 * Names are case-sensitive; aliases count.
 */
export function serviceByName(name: string, servicesPath = '/etc/services'): number | undefined {
  const db = servicesDb(servicesPath);
  for (const proto of ['tcp', 'udp', 'dccp', 'udplite', 'sctp']) {
    const e = db.find((x) => x.proto === proto && x.names.includes(name));
    if (e) return e.port;
  }
  return undefined;
}

function gaiText(err: NodeJS.ErrnoException): string {
  switch (err.code) {
    case 'ENOTFOUND': return 'Name or service not known';
    case 'EAI_AGAIN': return 'Temporary failure in name resolution';
    case 'EAI_FAIL': return 'Non-recoverable failure in name resolution';
    case 'EAI_FAMILY': return 'ai_family not supported';
    case 'EAI_ADDRFAMILY': return EAI_ADDRFAMILY;
    case 'EAI_NODATA': return 'No address associated with hostname';
    case 'EAI_MEMORY': return 'Memory allocation failure';
    default: return err.code ?? err.message;
  }
}

/**
 * Resolve `host` (name or address) and `service` (port number or /etc/services name) like
 * getaddrinfo(host, service, {ai_family}) and take the first result. Throws ResolveError.
 */
export async function resolve(host: string, family?: Family, service = '0', servicesPath?: string): Promise<Resolved> {
  let port = numericService(service);
  if (port === undefined) port = serviceByName(service, servicesPath);
  if (port === undefined) throw new ResolveError(host, service, EAI_SERVICE);

  // dns.lookup short-cuts IP literals without asking getaddrinfo, and then ignores `family`.
  const lit = isIP(host);
  if (lit !== 0) {
    if (family !== undefined && family !== lit) throw new ResolveError(host, service, EAI_ADDRFAMILY);
    return { address: host, family: lit as Family, port };
  }
  if (host === '') throw new ResolveError(host, service, 'Name or service not known');
  try {
    const { lookupAddress } = await import('./lookup.js');   // io/lookup.ts: node:dns only for names
    const r = await lookupAddress(host, { family: family ?? 0, verbatim: true });
    return { address: r.address, family: r.family === 6 ? 6 : 4, port };
  } catch (e) {
    throw new ResolveError(host, service, gaiText(e as NodeJS.ErrnoException));
  }
}
