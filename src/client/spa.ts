/**
 * One SPA knock (PROTOCOL.md): resolve the server, decide which address to open (given, learned
 * by STUN, or this machine's source address towards the server), sign a fresh request and send
 * it as one UDP datagram — or, with --dry-run, describe it without sending.
 */
import { randomBytes } from 'node:crypto';
import { createSocket, type Socket } from 'node:dgram';
import { AppError } from '../core/errors.js';
import { literalLookup } from '../io/send.js';
import { parseIp, type Ip } from '../core/ip.js';
import type { ClientKey } from '../core/keys/client.js';
import { signerFor } from '../core/spa/sign.js';
import { decodeRequest, encodeRequest } from '../core/spa/wire.js';
import type { StunServer } from '../core/stun.js';
import { netErrorHint, netErrorText } from './neterr.js';
import { discoverPublicAddress } from './stun.js';

export interface ResolvedServer { ip: Ip; family: 4 | 6 }

/** Resolve `host`; `-4`/`-6` must agree with an address literal instead of being ignored. */
export async function resolveServer(host: string, family?: 4 | 6): Promise<ResolvedServer> {
  const lit = parseIp(host)?.family ?? 0;
  if (lit !== 0 && family !== undefined && lit !== family) {
    throw new AppError('ERR_USAGE', `-${family} was given but '${host}' is an IPv${lit} address`);
  }
  let address: string;
  try {
    // io/lookup.ts, loaded for a host name only: a knock to an address never loads node:dns
    address = lit !== 0 ? host : (await (await import('../io/lookup.js')).lookupAddress(host, { family: family ?? 0, verbatim: true })).address;
  } catch (e) {
    throw new AppError('ERR_RESOLVE', `cannot resolve '${host}'${family ? ` as IPv${family}` : ''}: ${netErrorText(e)}; check the host name (or the 'host' of the profile)`, { cause: e });
  }
  const ip = parseIp(address.replace(/%.*$/, ''));
  if (!ip) throw new AppError('ERR_RESOLVE', `'${host}' resolved to an unusable address '${address}'`);
  return { ip, family: ip.family };
}

export interface KnockPlan {
  key: ClientKey; server: ResolvedServer; spaPort: number; door: string; ttl: number; nat: boolean;
  allowIp: Ip; allowFrom: 'given' | 'stun' | 'local'; allowNote: string;
  /**
   * With `keepSocket`: the connected socket the local address was learned with. The first
   * sendPacket sends on it and closes it (one socket per knock, not two); it is unref'd until
   * then, so a plan that is never sent does not hold the process.
   */
  sock?: Socket;
}

export interface PlanInput {
  key: ClientKey; host: string; family?: 4 | 6; spaPort: number; door: string; ttl: number;
  /** undefined: this machine's source address; 'auto': STUN; else IP text */
  allowIp?: string; stun: readonly StunServer[]; stunTimeoutMs?: number; note?: (s: string) => void;
  /** Ask the server to open the packet's source address (v2 keys with the server's --nat permission). */
  nat?: boolean;
  /** Keep the socket that learned the local address for the first sendPacket (KnockPlan.sock). */
  keepSocket?: boolean;
}

const where = (s: ResolvedServer, port: number) => `${s.family === 6 ? `[${s.ip.text}]` : s.ip.text}:${port}/udp`;

function connectUdp(server: ResolvedServer, port: number): Promise<Socket> {
  // the server is an address already: literalLookup spares loading node:dns (io/send.ts)
  const sock = createSocket({ type: server.family === 6 ? 'udp6' : 'udp4', lookup: literalLookup });
  sock.on('error', () => { /* reported through the callbacks below */ });
  return new Promise((resolve, reject) => {
    sock.connect(port, server.ip.text, (err?: Error) => {
      if (!err) { resolve(sock); return; }
      try { sock.close(); } catch { /* not open */ }
      const hint = netErrorHint(err);
      reject(new AppError('ERR_NETWORK', `cannot send to ${where(server, port)}: ${netErrorText(err)}${hint ? `; ${hint}` : ''}`, { cause: err }));
    });
  });
}

const closeSocket = (s: Socket) => new Promise<void>((r) => { try { s.close(() => r()); } catch { r(); } });

export async function planKnock(i: PlanInput): Promise<KnockPlan> {
  if (i.nat && i.key.spaVersion !== 2) {
    throw new AppError('ERR_USAGE', "--nat needs a v2 key (this is a 'knockd-ts-key v1' file); make one with 'knock --keygen' and have it enrolled with --nat");
  }
  const server = await resolveServer(i.host, i.family);
  const base = { key: i.key, server, spaPort: i.spaPort, door: i.door, ttl: i.ttl, nat: !!i.nat };
  if (i.allowIp === 'auto') {
    const a = await discoverPublicAddress(i.stun, server.family, { ...(i.stunTimeoutMs ? { timeoutMs: i.stunTimeoutMs } : {}), ...(i.note ? { note: i.note } : {}) });
    return { ...base, allowIp: a.ip, allowFrom: 'stun', allowNote: `learned from STUN server ${a.server} in ${a.ms} ms` };
  }
  if (i.allowIp !== undefined) {
    const ip = parseIp(i.allowIp);
    if (!ip) throw new AppError('ERR_USAGE', `--allow-ip must be 'auto' or a numeric IPv4 or IPv6 address (got '${i.allowIp}')`);
    if (ip.family !== server.family) throw new AppError('ERR_USAGE', `--allow-ip ${ip.text} is IPv${ip.family} but the knock goes to ${server.ip.text} over IPv${server.family}`);
    return { ...base, allowIp: ip, allowFrom: 'given', allowNote: 'given' };
  }
  const sock = await connectUdp(server, i.spaPort);
  const local = sock.address().address.replace(/%.*$/, '');
  const ip = parseIp(local);
  if (!ip || !i.keepSocket) await closeSocket(sock);
  if (!ip) throw new AppError('ERR_USAGE', `cannot use the local address '${local}'; pass --allow-ip`);
  const plan: KnockPlan = { ...base, allowIp: ip, allowFrom: 'local', allowNote: 'this machine\'s source address; behind NAT use --allow-ip auto or --nat' };
  if (i.keepSocket) plan.sock = sock.unref();
  return plan;
}

export function buildPacket(p: KnockPlan, now = Date.now(), random: (n: number) => Uint8Array = (n) => new Uint8Array(randomBytes(n))): Uint8Array {
  return encodeRequest({ timestampMs: now, nonce: random(16), ttl: p.ttl, allowIp: p.allowIp, serverIp: p.server.ip, door: p.door, version: p.key.spaVersion, nat: p.nat }, signerFor(p.key));
}

export async function sendPacket(p: KnockPlan, packet: Uint8Array): Promise<void> {
  const kept = p.sock;
  p.sock = undefined;
  const sock = kept ? kept.ref() : await connectUdp(p.server, p.spaPort);
  try {
    await new Promise<void>((resolve, reject) => { sock.send(packet, (err) => (err ? reject(err) : resolve())); });
  } catch (e) {
    const hint = netErrorHint(e);
    throw new AppError('ERR_NETWORK', `sending the SPA datagram to ${where(p.server, p.spaPort)} failed: ${netErrorText(e)}${hint ? `; ${hint}` : ''}`, { cause: e });
  } finally {
    await closeSocket(sock);
  }
}

/** Human description of a plan and its packet (verbose output and --dry-run). */
export function describe(p: KnockPlan, packet: Uint8Array, sent: boolean): string {
  const d = decodeRequest(packet);
  const lines = [
    `${sent ? 'SPA knock sent to' : 'SPA knock (dry run, not sent) to'} ${where(p.server, p.spaPort)} (${packet.length} bytes)`,
    `  key ${p.key.type} ${p.key.id}${p.key.name ? ` (${p.key.name})` : ''}`,
    `  door ${p.door === '' ? '(default)' : p.door}, ttl ${p.ttl === 0 ? '(door default)' : `${p.ttl}s`}`,
    p.nat ? `  open for the address the server sees (--nat; local address ${p.allowIp.text})` : `  open for ${p.allowIp.text} (${p.allowNote})`,
    `  request v${p.key.spaVersion}${p.nat ? ', nat' : ''}`,
  ];
  if (d.ok) lines.push(`  timestamp ${new Date(d.req.timestampMs).toISOString()}`, `  nonce ${Buffer.from(d.req.nonce).toString('hex')}`,
    `  server ${d.req.serverIp.text}, key id ${d.req.keyId}`);
  if (!sent) lines.push(`  hex ${Buffer.from(packet).toString('hex')}`);
  else lines.push(`  if nothing opens: the server's audit log has a knock.reject line with the reason (knockd audit --since 10m);` +
    ` check the door name, that this key is enrolled for it, the clocks, and the address to open`);
  return lines.join('\n') + '\n';
}
