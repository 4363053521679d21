/**
 * `--allow-ip auto`: learn this machine's public address with STUN Binding requests
 * (src/core/stun.ts encodes and parses). Servers are tried one after another, a new one (or a
 * retransmission) every 250 ms, from one UDP socket; the first valid answer from a server we
 * asked wins. Only Binding requests are ever sent. The whole search, name lookups included,
 * is bounded by `timeoutMs` (1.5 s by default) so a knock never hangs on STUN.
 */
import { randomBytes } from 'node:crypto';
import { createSocket, type RemoteInfo } from 'node:dgram';
import { AppError } from '../core/errors.js';
import { parseIp, type Ip } from '../core/ip.js';
import { encodeBindingRequest, parseBindingResponse, TXID_LEN, type StunServer } from '../core/stun.js';
import { netErrorText } from './neterr.js';

/** Public servers used when neither the profile nor --stun names one. */
export const DEFAULT_STUN_SERVERS: readonly StunServer[] = [
  { host: 'stun.cloudflare.com', port: 3478 },
  { host: 'stun.l.google.com', port: 19302 },
  { host: 'stun1.l.google.com', port: 19302 },
];
export const STUN_TIMEOUT_MS = 1500;
const STEP_MS = 250;

export interface StunAnswer { ip: Ip; port: number; server: string; via: 'xor-mapped' | 'mapped'; ms: number }

interface Target { label: string; addr?: string; txid: Uint8Array; problem?: string }

const label = (s: StunServer): string => (s.host.includes(':') ? `[${s.host}]:${s.port}` : `${s.host}:${s.port}`);

export async function discoverPublicAddress(servers: readonly StunServer[], family: 4 | 6,
  opts: { timeoutMs?: number; note?: (s: string) => void } = {}): Promise<StunAnswer> {
  const timeoutMs = opts.timeoutMs ?? STUN_TIMEOUT_MS;
  const t0 = Date.now();
  const deadline = t0 + timeoutMs;
  const list = servers.length > 0 ? servers : DEFAULT_STUN_SERVERS;
  const targets: Target[] = list.map((s) => ({ label: label(s), txid: new Uint8Array(randomBytes(TXID_LEN)) }));
  const sock = createSocket(family === 6 ? 'udp6' : 'udp4');
  let timer: NodeJS.Timeout | undefined;
  let settled = false;
  let settle: (v: StunAnswer | undefined) => void = () => {};
  const done = new Promise<StunAnswer | undefined>((r) => { settle = r; });
  const finish = (v: StunAnswer | undefined) => { if (!settled) { settled = true; settle(v); } };
  sock.on('error', (e) => { opts.note?.(`stun: socket error ${netErrorText(e)}`); });
  sock.on('message', (msg: Buffer, rinfo: RemoteInfo) => {
    const from = rinfo.address.replace(/%.*$/, '');
    const t = targets.find((x) => x.addr === from && Number(x.label.slice(x.label.lastIndexOf(':') + 1)) === rinfo.port);
    if (!t) { opts.note?.(`stun: ignored a datagram from ${from}:${rinfo.port} (not a server we asked)`); return; }
    const r = parseBindingResponse(new Uint8Array(msg), t.txid);
    if (!r.ok) { t.problem = `answer refused: ${r.reason}${r.detail ? ` (${r.detail})` : ''}`; opts.note?.(`stun: ${t.label} ${t.problem}`); return; }
    if (r.ip.family !== family) { t.problem = `answered an IPv${r.ip.family} address`; return; }
    finish({ ip: r.ip, port: r.port, server: t.label, via: r.via, ms: Date.now() - t0 });
  });

  const resolveTarget = async (i: number): Promise<void> => {
    const s = list[i] as StunServer, t = targets[i] as Target;
    if (t.addr || t.problem) return;
    const lit = parseIp(s.host)?.family ?? 0;
    if (lit !== 0) {
      if (lit !== family) { t.problem = `is an IPv${lit} address, the knock goes over IPv${family}`; return; }
      t.addr = parseIp(s.host)?.text ?? s.host;
      return;
    }
    const left = deadline - Date.now();
    const r = await Promise.race([
      import('../io/lookup.js').then((m) => m.lookupAddress(s.host, { family })).then((a) => a.address, (e: unknown) => { t.problem = `lookup failed: ${netErrorText(e)}`; return undefined; }),
      new Promise<undefined>((res) => setTimeout(() => res(undefined), Math.max(0, left)).unref()),
    ]);
    if (r) t.addr = r;
    else if (!t.problem) t.problem = 'lookup timed out';
  };
  const send = (t: Target, port: number) => {
    if (!t.addr) return;
    sock.send(encodeBindingRequest(t.txid), port, t.addr, (err) => { if (err) t.problem = `send failed: ${netErrorText(err)}`; });
  };

  let step = 0;
  const tick = async (): Promise<void> => {
    if (settled) return;
    const i = step % list.length;
    step++;
    await resolveTarget(i);
    const t = targets[i] as Target;
    if (!settled && t.addr) { opts.note?.(`stun: Binding request to ${t.label} (${t.addr})`); send(t, (list[i] as StunServer).port); }
    if (settled) return;
    if (targets.every((x) => x.problem && !x.addr)) { finish(undefined); return; }
    // the next server (or retransmission) follows at once if this one could not be asked
    const wait = t.addr ? STEP_MS : 0;
    if (Date.now() + wait < deadline && targets.some((x) => !x.problem || x.addr)) timer = setTimeout(() => { void tick(); }, wait);
  };
  const overall = setTimeout(() => finish(undefined), timeoutMs);
  void tick();
  const answer = await done;
  clearTimeout(overall);
  if (timer) clearTimeout(timer);
  await new Promise<void>((r) => { try { sock.close(() => r()); } catch { r(); } });
  if (answer) return answer;
  const tried = targets.map((t) => `${t.label} (${t.problem ?? 'no answer'})`).join(', ');
  throw new AppError('ERR_NETWORK', `could not learn the public address by STUN within ${(timeoutMs / 1000).toFixed(1)} s: ${tried}; ` +
    `check that UDP to the STUN server is allowed, name another with --stun HOST[:PORT], or pass --allow-ip ADDRESS`);
}
