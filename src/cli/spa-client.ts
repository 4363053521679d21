/**
 * Client side of SPA, loaded by src/cli/knock.ts with a dynamic import (the classic path never
 * loads it): `--keygen`, `--pubkey`, `--spa` (with a profile, `--dry-run`, `--wait PORT`) and
 * the OpenSSH ProxyCommand mode `-W host:port`. Imports nothing from the daemon or capture code.
 * Operator errors are AppError; `guarded` turns them into one line on stderr and an exit code.
 */
import type { Readable, Writable } from 'node:stream';
import { DEFAULT_SPA_PORT } from '../core/config/types.js';
import { AppError, exitCodeFor } from '../core/errors.js';
import { spaRequest, keyModeChecks, type ClientArgs, type SpaRequest } from '../client/args.js';
import { connectWhenOpen } from '../client/connect.js';
import { homeDirectory } from '../client/home.js';
import { defaultKeyPath, keygen, loadClientKeyFile, printPublic } from '../client/keyfile.js';
import { relay } from '../client/proxy.js';
import { buildPacket, describe, planKnock, resolveServer, sendPacket, type KnockPlan } from '../client/spa.js';

export { loadClientKeyFile, writeSecretFile, defaultKeyPath } from '../client/keyfile.js';
export type { ClientArgs } from '../client/args.js';

export interface ClientIo {
  out: (s: string) => void; err: (s: string) => void;
  home?: string; stdin?: Readable; stdout?: Writable;
}

/** Run `f`; an AppError becomes `knock: message [CODE]` on `err` and its exit code. */
async function guarded(err: ((s: string) => void) | undefined, f: () => Promise<number> | number): Promise<number> {
  try { return await f(); } catch (e) {
    if (err && e instanceof AppError) { err(`knock: ${e.message} [${e.code}]\n`); return exitCodeFor(e.code); }
    throw e;
  }
}

export async function clientMain(a: ClientArgs, io: ClientIo): Promise<number> {
  return guarded(io.err, async () => {
    const home = io.home ?? await homeDirectory();
    if (a.mode === 'keygen' || a.mode === 'pubkey') {
      keyModeChecks(a);
      const o = { out: io.out, key: a.key ?? defaultKeyPath(home), ...(a.comment !== undefined ? { comment: a.comment } : {}) };
      if (a.mode === 'pubkey') return printPublic(o);
      return keygen({ ...o, force: !!a.force, ...(a.type !== undefined ? { type: a.type as 'ed25519' | 'hmac' } : {}) });
    }
    return spa(spaRequest(a, home), io);
  });
}

async function spa(r: SpaRequest, io: ClientIo): Promise<number> {
  // In -W mode stdout carries the SSH connection: every human line goes to stderr.
  const say = r.proxy ? io.err : io.out;
  const note = r.verbose ? (s: string) => io.err(`knock: ${s}\n`) : undefined;
  const key = loadClientKeyFile(r.keyPath);
  if (note && r.profile) note(`profile [${r.profile}]: host ${r.host}, key ${r.keyPath}`);
  const target = r.proxy ? await resolveServer(r.proxy.host, r.family) : undefined;
  const plan = await planKnock({
    key, host: r.host, spaPort: r.spaPort, door: r.door, ttl: r.ttl, stun: r.stun,
    ...(r.family !== undefined ? { family: r.family } : {}),
    ...(r.allowIp !== undefined ? { allowIp: r.allowIp } : {}),
    ...(note ? { note } : {}),
    nat: r.nat, keepSocket: !r.dryRun,
  });
  const packet = buildPacket(plan);
  if (r.dryRun) { io.out(describe(plan, packet, false)); return 0; }
  await sendPacket(plan, packet);
  if (r.verbose) say(describe(plan, packet, true));
  if (!r.proxy && r.waitPort === undefined) return 0;

  const port = r.proxy ? r.proxy.port : r.waitPort as number;
  const dest = target ?? plan.server;
  const limitMs = r.timeoutS * 1000;
  const res = await connectWhenOpen({ address: dest.ip.text, port, family: dest.family }, {
    limitMs, reknockAtMs: Math.min(3000, Math.floor(limitMs / 2)),
    reknock: () => sendPacket(plan, buildPacket(plan)),
    ...(note ? { note } : {}),
  });
  if (!res.ok) throw notOpen(r, plan, `${dest.family === 6 ? `[${dest.ip.text}]` : dest.ip.text}:${port}`, res.lastError, res.reknocked);
  if (!r.proxy) {
    res.sock.destroy();
    if (r.verbose) say(`port ${port} on ${dest.ip.text} accepts (after ${res.ms} ms)\n`);
    return 0;
  }
  const out = await relay(res.sock, io.stdin ?? process.stdin, io.stdout ?? process.stdout);
  if (out.error) io.err(`knock: ${r.proxy.host}:${port}: ${out.error}\n`);
  note?.(`relay closed: ${out.toServer} bytes sent, ${out.fromServer} received`);
  return out.code;
}

function notOpen(r: SpaRequest, p: KnockPlan, dest: string, lastError: string | undefined, reknocked: boolean): AppError {
  const knocks = reknocked ? 'a knock and a re-knock' : 'one knock';
  const nat = p.allowFrom === 'local' ? '; behind NAT use --allow-ip auto' : '';
  return new AppError('ERR_NOT_OPEN', `door did not open within ${r.timeoutS} s: no connection to ${dest}` +
    `${lastError ? ` (last error ${lastError})` : ''} after ${knocks} for ${p.allowIp.text}; check that knockd runs on ${p.server.ip.text} ` +
    `with SPA on udp/${p.spaPort}, the door name, that this key (${p.key.id}) is enrolled for it, the clocks${nat}`);
}

// ---- library entry points kept for callers and tests ------------------------------------------

export async function keygenMain(o: { key?: string; type?: 'ed25519' | 'hmac'; force?: boolean; comment?: string; out: (s: string) => void; err?: (s: string) => void }): Promise<number> {
  return guarded(o.err, () => keygen(o));
}

export interface SpaOptions {
  key: string; host: string; door?: string; ttl?: number; allowIp?: string; spaPort?: number;
  /** Ask the server to open the address the packet arrives from (v2 keys; the key needs --nat on the server). */
  nat?: boolean;
  family?: 4 | 6; verbose?: boolean; out: (s: string) => void; err?: (s: string) => void;
  /** Tests: fixed clock and nonce source. */
  now?: () => number; random?: (n: number) => Uint8Array;
}

/** One SPA knock with already-validated options (no profile lookup). */
export async function spaMain(o: SpaOptions): Promise<number> {
  return guarded(o.err, async () => {
    const plan = await planKnock({
      key: loadClientKeyFile(o.key), host: o.host, spaPort: o.spaPort ?? DEFAULT_SPA_PORT, door: o.door ?? '', ttl: o.ttl ?? 0, stun: [],
      ...(o.family !== undefined ? { family: o.family } : {}), ...(o.allowIp !== undefined ? { allowIp: o.allowIp } : {}),
      nat: !!o.nat, keepSocket: true,
    });
    const packet = buildPacket(plan, (o.now ?? Date.now)(), o.random);
    await sendPacket(plan, packet);
    if (o.verbose) o.out(describe(plan, packet, true));
    return 0;
  });
}
