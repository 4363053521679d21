/**
 * `knockd` as a process: the real ports (pcap, the bash runner, files, pino, timers), the
 * one-daemon-per-StateDir lock, pid files, signals (SIGHUP reload, SIGTERM/SIGINT stop), the
 * silent SPA port in pcap mode and the SPA sockets in socket mode. The lifecycle itself is
 * daemon.ts over injected ports, which the integration tests drive without root.
 */
import { writeFileSync, unlinkSync, readFileSync } from 'node:fs';
import { reverse } from 'node:dns/promises';
import { randomBytes } from 'node:crypto';
import { createSocket, type Socket } from 'node:dgram';
import type { Config } from '../core/config/types.js';
import { parseIp } from '../core/ip.js';
import { looksLikeRequest } from '../core/spa/wire.js';
import { loadConfig } from '../io/read-config.js';
import { openCapture } from '../io/capture.js';
import { localAddresses } from '../io/interfaces.js';
import { consumeOneTimeSequence } from '../io/ots-file.js';
import { CommandRunner } from '../io/runner.js';
import { NftChannel } from '../io/nft.js';
import { bootTimeMs } from '../io/boot-time.js';
import { Journal } from '../io/journal.js';
import { createKnockdLog } from '../io/knockd-log.js';
import { createAuditLog } from '../io/audit-log.js';
import { createLogger } from '../io/logger.js';
import { loadKeys, watchKeys } from '../io/keys-load.js';
import { ReplayStore } from '../io/replay-store.js';
import { acquireLock } from '../io/lock.js';
import { holdQuietPort, type QuietPort } from '../io/quiet-port.js';
import { ensureDir } from '../io/safe-file.js';
import { ACK_FORMAT, writeKeyringAck } from '../io/keyring-ack.js';
import { startDaemon, type DaemonHandle, type DaemonOptions } from './daemon.js';
import type { DaemonPorts } from './ports.js';

export interface RunOptions extends DaemonOptions {
  /** -p (PidFile beats it, as in knockd); written only with -d, as knockd does. */
  readonly pidFile?: string | undefined;
  /** We are the detached child of `-d`. */
  readonly daemonChild: boolean;
  readonly out: (s: string) => void;
  readonly err: (s: string) => void;
  /** Called once capture is running (the `-d` parent waits for this). */
  readonly onReady?: () => void;
}

/** Kernel capture ring: a forgery-flood burst must not overflow it and take a valid knock along (bench). */
export const CAPTURE_BUFFER_BYTES = 16 * 1024 * 1024;
/** Receive buffer asked for in SPAMode = socket (granted up to net.core.rmem_max). */
export const SOCKET_BUFFER_BYTES = 16 * 1024 * 1024;
export const DEFAULT_PID_FILE = '/var/run/knockd.pid';
const MAX_TIMER_MS = 2 ** 31 - 1;

function realPorts(o: RunOptions, runner: CommandRunner): DaemonPorts {
  const logger = createLogger({ level: o.debug ? 'debug' : 'info' });
  let useSyslog = false;
  return {
    now: () => Date.now(),
    setTimer: (fn, ms) => { const t = setTimeout(fn, Math.max(0, Math.min(MAX_TIMER_MS, ms))); t.unref(); return { cancel: () => clearTimeout(t) }; },
    loadConfig: (p) => { const c = loadConfig(p); useSyslog = c.options.useSyslog; return c; },
    localAddrs: (iface, ipv6) => localAddresses(iface, ipv6),
    openCapture: (c) => openCapture({ ...c, bufferSize: CAPTURE_BUFFER_BYTES }),
    runner,
    openNft: (targets) => NftChannel.open({ targets, onEvent: (e) => logger[e.kind === 'recycle' ? 'debug' : e.kind === 'restart' ? 'info' : 'warn']({ ...e }, 'nft channel') }),
    openJournal: (dir) => Journal.open(dir),
    openAudit: (path) => createAuditLog(path),
    openKnockdLog: (logFile) => createKnockdLog({ useSyslog, verbose: Boolean(o.verbose), ...(logFile !== undefined ? { logFile } : {}), stdout: o.out }),
    logger: { log: (level, fields, msg) => logger[level](fields, msg) },
    loadKeys,
    watchKeys,
    writeAck: (dir, ack) => writeKeyringAck(dir, { format: ACK_FORMAT, version: 1, ...ack }),
    openReplay: (dir, windowMs) => ReplayStore.open(dir, { windowMs }),
    consumeOts: (path, used) => consumeOneTimeSequence(path, used).next,
    reverseLookup: async (src) => (await reverse(src))[0],
    ...(bootTimeMs() !== undefined ? { notBeforeMs: bootTimeMs() as number } : {}),
    hashSeed: randomBytes(4).readUInt32LE(0),
    out: o.out,
    pid: process.pid,
  };
}

/** SPAMode = socket: UDP sockets on SPAPort feed the daemon (pcap mode: a silent held port). */
function spaSockets(c: Config, ipv6: boolean, d: DaemonHandle, warn: (m: string) => void): { close(): void } {
  const spa = c.doors.some((x) => x.spa);
  if (!spa) return { close() { /* nothing */ } };
  if (c.options.spaMode === 'pcap') {
    const q: QuietPort = holdQuietPort(c.options.spaPort, ipv6, warn);
    return q;
  }
  const sockets: Socket[] = [];
  for (const type of (ipv6 ? ['udp4', 'udp6'] : ['udp4']) as ('udp4' | 'udp6')[]) {
    const s = createSocket({ type, ipv6Only: type === 'udp6', recvBufferSize: SOCKET_BUFFER_BYTES } as Parameters<typeof createSocket>[0]);
    s.on('message', (msg, rinfo) => {
      if (!looksLikeRequest(msg)) return;   // junk: no address parsing, no verifier call
      const src = parseIp(rinfo.address.replace(/^::ffff:(?=\d+\.)/, ''));
      if (src) d.spa(new Uint8Array(msg), src.text, Date.now());
    });
    s.on('error', (e) => warn(`SPA socket: ${e.message}`));
    s.bind(c.options.spaPort);
    sockets.push(s);
  }
  return { close() { for (const s of sockets) { try { s.close(); } catch { /* closed */ } } } };
}

/**
 * Signals that arrive while the daemon starts are held, then acted on once it runs: the default
 * action (exit at once, closing nothing) must never apply to a SIGHUP or SIGTERM sent right
 * after the start, e.g. by `knockd keys` or a service manager.
 */
export function holdSignals(): { release(): void; replay(h: { hup(): void; stop(sig: string): void; usr2(): void }): void } {
  const held = new Set<string>();
  const names = ['SIGHUP', 'SIGTERM', 'SIGINT', 'SIGUSR2'] as const;
  const handlers = names.map((n) => [n, () => { held.add(n); }] as const);
  for (const [n, f] of handlers) process.on(n, f);
  let released = false;
  return {
    release() { if (!released) { released = true; for (const [n, f] of handlers) process.off(n, f); } },
    replay(h) {
      const stop = held.has('SIGTERM') ? 'SIGTERM' : held.has('SIGINT') ? 'SIGINT' : undefined;
      if (stop) { h.stop(stop); return; }
      if (held.has('SIGHUP')) h.hup();
      if (held.has('SIGUSR2')) h.usr2();
    },
  };
}

/** Runs until SIGTERM/SIGINT. Resolves with the exit status; operator errors throw AppError. */
export async function runDaemon(o: RunOptions): Promise<number> {
  const early = holdSignals();
  try { return await runHeld(o, early); } finally { early.release(); }
}

async function runHeld(o: RunOptions, early: ReturnType<typeof holdSignals>): Promise<number> {
  const first = loadConfig(o.configPath);
  ensureDir(first.options.stateDir, 'state directory', { code: 'ERR_STATE' });
  const lock = await acquireLock(first.options.stateDir);   // before anything else is touched
  const runner = new CommandRunner({ timeoutMs: 60_000, onNotice: (m, detail) => o.err(`knockd: ${m}${detail ? ` ${JSON.stringify(detail)}` : ''}\n`) });
  let d: DaemonHandle;
  try {
    runner.start();
    d = startDaemon(realPorts(o, runner), o);
    await d.ready;   // nft channel open and its sets reconciled, capture running
  } catch (e) {
    await runner.close();
    lock.release();
    throw e;
  }
  const pidFile = first.options.pidFile ?? o.pidFile ?? DEFAULT_PID_FILE;
  let wrotePid = false;
  if (o.daemonChild) {
    try { writeFileSync(pidFile, `${process.pid}\n`); wrotePid = true; } catch (e) { o.err(`knockd: could not create pid file ${pidFile}: ${(e as Error).message}\n`); }
  }
  const warn = (m: string): void => { o.err(`knockd: ${m}\n`); };
  let sockets = spaSockets(d.config(), !o.onlyV4, d, warn);
  const keepAlive = setInterval(() => { /* the daemon runs until it is told to stop */ }, 1 << 30);
  o.onReady?.();
  return await new Promise<number>((resolve) => {
    const onHup = (): void => {
      const before = d.config().options;
      void d.reload().then((ok) => {
        const now = d.config().options;
        if (ok && (now.spaPort !== before.spaPort || now.spaMode !== before.spaMode)) { sockets.close(); sockets = spaSockets(d.config(), !o.onlyV4, d, warn); }
      });
    };
    const onStop = (sig: string) => (): void => {
      void d.stop(sig).then((code) => {
        process.off('SIGHUP', onHup);
        process.off('SIGUSR2', onUsr2);
        sockets.close();
        clearInterval(keepAlive);
        if (wrotePid) { try { if (readFileSync(pidFile, 'utf8').trim() === String(process.pid)) unlinkSync(pidFile); } catch { /* gone */ } }
        lock.release();
        resolve(code);
      }, (e: unknown) => { o.err(`knockd: error during shutdown: ${String(e)}\n`); lock.release(); resolve(1); });
    };
    // SIGUSR2: one log line with the process's memory and capture counters (soak, leak hunting,
    // the flood benchmarks; no other effect)
    const onUsr2 = (): void => {
      const m = process.memoryUsage();
      const capture = d.captureStats();
      o.err(`${JSON.stringify({ msg: 'memory usage', rss: m.rss, heapTotal: m.heapTotal, heapUsed: m.heapUsed, external: m.external, arrayBuffers: m.arrayBuffers, ...(capture ? { capture } : {}) })}\n`);
    };
    process.on('SIGUSR2', onUsr2);
    process.on('SIGHUP', onHup);
    const onTerm = onStop('SIGTERM'), onInt = onStop('SIGINT');
    process.once('SIGTERM', onTerm);
    process.once('SIGINT', onInt);
    early.release();
    early.replay({
      hup: onHup, usr2: onUsr2,
      stop: (sig) => { process.off('SIGTERM', onTerm); process.off('SIGINT', onInt); onStop(sig)(); },
    });
  });
}
