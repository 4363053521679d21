/**
 * Connect to a knocked port as soon as the door opens, for `-W host:port` and `--wait PORT`.
 *
 * A new connection attempt starts at 0, 5, 10, 20 ... 800 ms (SCHEDULE_MS), then every second;
 * earlier attempts stay pending, because a SYN the firewall dropped before the door opened is
 * retransmitted by the kernel only after about a second. The first attempt that connects wins
 * and the others are destroyed. A refused attempt (RST or ICMP) just ends. Nothing spins: each
 * attempt is one socket, at most 32 are pending, and the whole is bounded by `limitMs`.
 * `reknock` (once, at `reknockAtMs`) sends a fresh knock when the first one did not open the door.
 */
import { connect, type Socket } from 'node:net';
import { netErrorText } from './neterr.js';

export interface ConnectTarget { readonly address: string; readonly port: number; readonly family: 4 | 6 }

export type ConnectResult =
  | { ok: true; sock: Socket; ms: number; attempts: number }
  | { ok: false; lastError?: string; attempts: number; reknocked: boolean };

const SCHEDULE_MS = [0, 5, 10, 20, 35, 50, 75, 100, 150, 200, 300, 400, 600, 800];
const AFTER_REKNOCK_MS = [0, 5, 10, 20, 50, 100, 200, 400];
const MAX_PENDING = 32;

export function attemptTimes(limitMs: number): number[] {
  const out = SCHEDULE_MS.filter((t) => t < limitMs);
  for (let t = 1800; t < limitMs; t += 1000) out.push(t);
  return out;
}

export function connectWhenOpen(target: ConnectTarget, opts: {
  limitMs: number; reknockAtMs?: number; reknock?: () => Promise<void>; note?: (s: string) => void;
}): Promise<ConnectResult> {
  const t0 = Date.now();
  const pending = new Set<Socket>();
  const timers: NodeJS.Timeout[] = [];
  let attempts = 0, lastError: string | undefined, reknocked = false;
  return new Promise<ConnectResult>((resolve) => {
    let settled = false;
    const end = (r: ConnectResult) => {
      if (settled) return;
      settled = true;
      for (const t of timers) clearTimeout(t);
      for (const s of pending) if (!(r.ok && s === r.sock)) s.destroy();
      pending.clear();
      resolve(r);
    };
    const attempt = () => {
      if (settled || pending.size >= MAX_PENDING) return;
      attempts++;
      const n = attempts;
      const s = connect({ host: target.address, port: target.port, family: target.family });
      pending.add(s);
      s.once('connect', () => {
        pending.delete(s);
        opts.note?.(`connected to ${target.address}:${target.port} after ${Date.now() - t0} ms (attempt ${n})`);
        end({ ok: true, sock: s, ms: Date.now() - t0, attempts });
      });
      s.once('error', (e) => {
        pending.delete(s);
        lastError = netErrorText(e);
        s.destroy();
      });
    };
    for (const at of attemptTimes(opts.limitMs)) timers.push(setTimeout(attempt, at));
    if (opts.reknock && opts.reknockAtMs !== undefined && opts.reknockAtMs < opts.limitMs) {
      const reknock = opts.reknock;
      timers.push(setTimeout(() => {
        if (settled) return;
        reknocked = true;
        opts.note?.(`no connection after ${opts.reknockAtMs} ms: knocking again`);
        reknock().then(() => { for (const d of AFTER_REKNOCK_MS) timers.push(setTimeout(attempt, d)); }, (e: unknown) => { lastError = `re-knock failed: ${(e as Error).message}`; });
      }, opts.reknockAtMs));
    }
    timers.push(setTimeout(() => end({ ok: false, attempts, reknocked, ...(lastError ? { lastError } : {}) }), opts.limitMs));
  });
}
