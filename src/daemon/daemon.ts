/**
 * Composition root of the daemon: config → capture → decode → (sequence matcher | SPA verifier)
 * → DoorController (commands, journal, audit). Everything here is wiring and lifecycle; the
 * decisions live in src/core and the I/O in src/io.
 */
import { writeFileSync, unlinkSync, mkdirSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import { reverse } from 'node:dns/promises';
import { createSocket, type Socket } from 'node:dgram';
import type { Config, Door, Hit } from '../core/config/types.js';
import type { Packet } from '../core/types.js';
import { parseIp } from '../core/ip.js';
import { AppError } from '../core/errors.js';
import { formatConfig } from '../core/config/format.js';
import { formatSequence } from '../core/config/sequence.js';
import { buildFilter, doorFilter } from '../core/packet/bpf.js';
import { SequenceMatcher, type KnockEvent } from '../core/knock/matcher.js';
import { SpaVerifier, type SpaResult } from '../core/spa/verify.js';
import { looksLikeRequest } from '../core/spa/wire.js';
import type { Keyring } from '../core/keys/keyring.js';
import { loadConfig } from '../io/read-config.js';
import { openCapture, type CaptureHandle } from '../io/capture.js';
import { localAddresses } from '../io/interfaces.js';
import { consumeOneTimeSequence } from '../io/ots-file.js';
import { CommandRunner } from '../io/runner.js';
import { bootTimeMs } from '../io/boot-time.js';
import { Journal } from '../io/journal.js';
import { createKnockdLog, type KnockdLog } from '../io/knockd-log.js';
import { createAuditLog, type AuditLog } from '../io/audit-log.js';
import { createLogger } from '../io/logger.js';
import { loadKeyring, watchKeyring, type KeyringLoad } from '../io/keystore.js';
import { keyringAck, writeKeyringAck } from '../io/keyring-ack.js';
import { ReplayStore } from '../io/replay-store.js';
import { ensureDir } from '../io/safe-file.js';
import { DoorController } from './doors.js';

export interface DaemonOptions {
  readonly configPath: string;
  readonly iface?: string;        // -i (beats Interface)
  readonly pidFile?: string;      // -p (PidFile beats it, as in knockd)
  readonly logFile?: string;      // -g (LogFile beats it, as in knockd)
  readonly daemonChild: boolean;  // we are the detached child of `-d`
  readonly debug: boolean;        // -D
  readonly verbose: boolean;      // -v
  readonly lookup: boolean;       // -l
  readonly onlyV4: boolean;       // -4
  readonly out: (s: string) => void;
  readonly err: (s: string) => void;
  /** Called once capture is running (the `-d` parent waits for this). */
  readonly onReady?: () => void;
}

export const DEFAULT_INTERFACE = 'eth0';
// Rejections logged only at debug level: those before the MAC, and 'replayed' and 'rate-limited',
// which anyone resending one captured genuine datagram reaches at flood rate.
const QUIET_REASONS = new Set(['malformed', 'bad-version', 'unknown-key', 'stale', 'future', 'bad-mac', 'rate-limited', 'replayed']);
/**
 * Kernel capture ring for the pcap handle. Under a forgery flood (datagrams that pass the BPF
 * shape check and cost an HMAC each in JS) a burst must not overflow the ring and take a valid
 * knock with it; the benchmark saw exactly that with cap's 2 MiB. 16 MiB holds ~80k SPA frames.
 */
export const CAPTURE_BUFFER_BYTES = 16 * 1024 * 1024;
/** Receive buffer asked for in SPAMode = socket (granted up to net.core.rmem_max). */
export const SOCKET_BUFFER_BYTES = 16 * 1024 * 1024;
export const DEFAULT_PID_FILE = '/var/run/knockd.pid';

/** Runs until SIGTERM/SIGINT. Resolves with the exit status. */
export async function runDaemon(o: DaemonOptions): Promise<number> {
  let config = loadConfig(o.configPath);
  const iface = o.iface ?? config.options.interface ?? DEFAULT_INTERFACE;
  const logger = createLogger({ level: o.debug ? 'debug' : 'info' });
  let klog: KnockdLog = createKnockdLog({
    useSyslog: config.options.useSyslog, verbose: o.verbose,
    ...(config.options.logFile ?? o.logFile) !== undefined ? { logFile: (config.options.logFile ?? o.logFile) as string } : {},
    stdout: o.out,
  });
  const audit: AuditLog = createAuditLog(config.options.auditLog);
  for (const w of config.warnings) logger.warn({ config: config.file }, w);

  // StateDir is trusted as KeysDir is (owner root or us, no group/other write, no symlink)
  // before anything in it is read: a planted doors.json must never have its commands run.
  ensureDir(config.options.stateDir, 'state directory', { code: 'ERR_STATE' });
  const journal = Journal.open(config.options.stateDir);
  // door commands are started by a small bash child: forking the daemon itself costs ~3 ms more per command
  const runner = new CommandRunner({ timeoutMs: 60_000, onNotice: (m, detail) => logger.warn(detail ?? {}, m) });
  runner.start();
  const controller = new DoorController({
    journal, audit, log: klog, logger,
    run: (cmd) => runner.run(cmd),
    now: () => Date.now(),
    setTimer: (fn, ms) => { const t = setTimeout(fn, Math.max(0, ms)); t.unref(); return { cancel: () => clearTimeout(t) }; },
  });
  await controller.reconcile();

  const ipv6 = !o.onlyV4;
  const addrs = (): string[] => localAddresses(iface, ipv6);
  let localAddrs = addrs();
  if (o.debug) {
    o.out(formatConfig(config));
    for (const a of localAddrs) o.out(`local IP: ${a}\n`);
  }

  // ---- SPA ----
  const spaDoors = (c: Config) => c.doors.some((d) => d.spa);
  let verifier: SpaVerifier | undefined;
  let replay: ReplayStore | undefined;
  let stopWatch: (() => void) | undefined;
  const bootMs = bootTimeMs();
  const spaContext = (c: Config) => ({
    doors: c.doors, ownAddrs: () => localAddrs, spaAddrs: c.options.spaAddresses,
    windowMs: c.options.spaWindow * 1000,
    // the replay store's history: largest window ever, and its floor (first start, raised window)
    ...(replay ? { maxWindowMs: replay.maxWindowMs } : {}),
    notBeforeMs: Math.max(bootMs ?? 0, replay?.floorMs ?? 0),
  });
  /** Tell `knockd keys` which key-directory revision is in force (StateDir/keyring.ack). */
  const ackKeys = (c: Config, load: KeyringLoad): void => {
    for (const r of load.refused) logger.warn({ file: r.path }, `key record refused: ${r.error}`);
    try { writeKeyringAck(c.options.stateDir, keyringAck(load, process.pid, Date.now())); } catch (e) {
      logger.error({ err: e }, 'cannot write the keyring acknowledgement');
    }
  };
  /** Close the open SPA doors of keys that are gone or revoked in `k` (revocation closes doors). */
  const closeRevoked = (k: Keyring): void => {
    const now = Date.now();
    const dead = (name: string): boolean => {
      const r = k.byName(name);
      return !r || (r.revoked !== undefined && r.revoked <= now);
    };
    const victims = controller.leases().filter((l) => l.principal.kind === 'spa' && dead(l.principal.key));
    if (victims.length === 0) return;
    logger.info({ keys: [...new Set(victims.map((l) => (l.principal as { key: string }).key))] }, 'keys revoked: closing their doors');
    void controller.closeWhere((l) => l.principal.kind === 'spa' && dead(l.principal.key), 'revoked');
  };
  /** Everything SPA needs that can fail (key directory, replay store); changes no running state. */
  const prepareSpa = (c: Config): { keyring: Keyring; load: KeyringLoad; replay: ReplayStore } | undefined => {
    if (!spaDoors(c)) return undefined;
    const load = existsSync(c.options.keysDir) ? loadKeyring(c.options.keysDir) : loadKeyringOrEmpty(c.options.keysDir, logger);
    return { keyring: load.keyring, load, replay: replay ?? ReplayStore.open(c.options.stateDir, { windowMs: c.options.spaWindow * 1000 }) };
  };
  /** Swap in prepared SPA state. Only SpaVerifier.setKeyring can throw, and it swaps atomically. */
  const applySpa = (c: Config, prepared: ReturnType<typeof prepareSpa>): void => {
    if (!prepared) {
      verifier = undefined;
      stopWatch?.();
      stopWatch = undefined;
      return;
    }
    replay = prepared.replay;
    replay.setWindow(c.options.spaWindow * 1000, Date.now());   // a raised SPAWindow moves the floor first
    if (verifier) verifier.setKeyring(prepared.keyring);
    else verifier = new SpaVerifier(prepared.keyring, prepared.replay, spaContext(c));
    verifier.setContext(spaContext(c));
    closeRevoked(prepared.keyring);
    ackKeys(c, prepared.load);
    stopWatch?.();
    stopWatch = existsSync(c.options.keysDir) ? watchKeyring(c.options.keysDir, (k, _revoked, load) => {
      verifier?.setKeyring(k);
      closeRevoked(k);
      ackKeys(c, load);
    }, (e) => logger.error({ err: e }, 'key directory reload failed; keeping the previous keys')) : undefined;
  };
  applySpa(config, prepareSpa(config));
  const pruneTimer = setInterval(() => { try { replay?.prune(Date.now()); } catch (e) { logger.error({ err: e }, 'replay store prune failed'); } }, 60_000);
  pruneTimer.unref();

  const onSpa = (payload: Uint8Array, src: string, rxMs: number): void => {
    if (!verifier) return;
    let r: SpaResult;
    try { r = verifier.check(payload, src, Date.now()); } catch (e) {
      logger.error({ err: e }, 'SPA verifier threw (bug); packet dropped');
      return;
    }
    if (!r.ok) {
      audit.record({ event: 'knock.reject', reason: r.reason, src, ...(r.keyId ? { keyId: r.keyId } : {}), ...(r.key ? { key: r.key } : {}) });
      // Rejections past the MAC and the token buckets come from a key holder (or a replayed
      // genuine packet) at most at the bucket rate, so each one is worth a log line.
      if (QUIET_REASONS.has(r.reason)) logger.debug({ src, reason: r.reason }, 'SPA rejected');
      else logger.info({ src, reason: r.reason, keyId: r.keyId, key: r.key }, 'SPA rejected after the MAC check');
      return;
    }
    const g = r.grant;
    klog.line(`${src}: ${g.door.name}: SPA knock accepted (key ${g.key.name})`);
    logger.info({ src, door: g.door.name, key: g.key.name, ip: g.ip.text, ttl: g.grantedTtl, rxMs }, 'SPA grant');
    void controller.open({
      doorIndex: g.doorIndex, door: g.door, ip: g.ip, src,
      principal: { kind: 'spa', key: g.key.name, keyId: g.key.id },
      requestedTtl: g.requestedTtl, grantedTtl: g.grantedTtl,
    }).catch((e: unknown) => logger.error({ err: e }, 'door open failed'));
  };

  // ---- classic sequences ----
  let matcher = new SequenceMatcher(config.doors, { maxAttempts: config.options.maxAttempts, localAddrs });
  let doors: Door[] = [...config.doors];
  const hostNames = new Map<string, string>();   // -l: bounded cache of reverse lookups
  const who = (src: string): string => {
    const h = hostNames.get(src);
    return h ? `${src} (${h})` : src;
  };
  const lookup = (src: string): void => {
    if (!o.lookup || hostNames.has(src) || hostNames.size > 1024) return;
    reverse(src).then((names) => { if (names[0]) hostNames.set(src, names[0]); }, () => undefined);
  };

  let capture: CaptureHandle | undefined;
  const filterFor = (c: Config, ds: readonly Door[], addrsNow: readonly string[]): string => buildFilter({
    doors: ds, localAddrs: addrsNow, ipv6,
    ...(spaDoors(c) && c.options.spaMode === 'pcap' ? { spaPort: c.options.spaPort } : {}),
  });
  const currentFilter = (): string => filterFor(config, doors, localAddrs);
  /** -D: knockd's per-door filter lines. */
  const printDoorFilters = (): void => {
    if (!o.debug) return;
    for (const d of doors) {
      for (const fam of (ipv6 ? [4, 6] : [4]) as (4 | 6)[]) {
        const e = doorFilter(d, d.target ? [d.target] : localAddrs, fam);
        if (e) o.out(`adding pcap expression for door '${d.name}': ${e}\n`);
      }
    }
  };
  /** A door's sequence changed (one-time-sequence rotation): refresh what is derived from the doors. */
  const doorsChanged = (): void => {
    spaAlsoKnock = spaPortKnocked();
    printDoorFilters();
    capture?.setFilter(currentFilter());
  };

  const rotateOts = (index: number, door: Door): void => {
    if (!door.oneTimeSequences) return;
    let next: Hit[] = [];   // empty sequence = door disabled (it never matches)
    try {
      next = consumeOneTimeSequence(door.oneTimeSequences, door.sequence).next ?? [];
      if (next.length === 0) klog.line(`no more sequences left in the one time sequences file for door ${door.name} --> disabling the door`);
      else if (o.debug) o.out(`new sequence for door ${door.name}: ${formatSequence(next)}\n`);
    } catch (e) {
      klog.line(`error while disabling used one time sequence for door ${door.name} --> disabling the door`);
      logger.error({ err: e, door: door.name }, 'one-time sequence rotation failed; door disabled');
    }
    const nd: Door = { ...door, sequence: next };
    doors[index] = nd;
    matcher.setDoor(index, nd);
    doorsChanged();
  };

  const onKnockEvents = (events: readonly KnockEvent[]): void => {
    for (const ev of events) {
      switch (ev.kind) {
        case 'stage':
          if (ev.stage === 1) lookup(ev.src);
          klog.line(`${who(ev.src)}: ${ev.door.name}: Stage ${ev.stage}`);
          break;
        case 'timeout':
          klog.line(`${who(ev.src)}: ${ev.door.name}: sequence timeout (stage ${ev.stage})`);
          audit.record({ event: 'knock.reject', reason: 'sequence-timeout', src: ev.src, door: ev.door.name, principal: { kind: 'sequence' } });
          break;
        case 'invalid':
          logger.debug({ src: ev.src, door: ev.door.name, stage: ev.stage }, 'wrong hit: attempt invalidated');
          audit.record({ event: 'knock.reject', reason: 'sequence-invalid', src: ev.src, door: ev.door.name, principal: { kind: 'sequence' } });
          break;
        case 'evicted':
        case 'refused':
          logger.debug({ src: ev.src, door: ev.door.name, kind: ev.kind }, 'attempt table full');
          break;
        case 'open': {
          klog.line(`${who(ev.src)}: ${ev.door.name}: OPEN SESAME`);
          const ip = parseIp(ev.src);
          if (!ip) break;
          const door = ev.door;
          void controller.open({
            doorIndex: ev.doorIndex, door, ip, src: ev.src,
            principal: { kind: 'sequence' }, grantedTtl: door.cmdTimeout,
          }).catch((e: unknown) => logger.error({ err: e }, 'door open failed'));
          if (door.oneTimeSequences) rotateOts(ev.doorIndex, door);
          break;
        }
      }
    }
    armExpiry();
  };

  let expiryTimer: NodeJS.Timeout | undefined;
  const armExpiry = (): void => {
    if (expiryTimer) clearTimeout(expiryTimer);
    expiryTimer = undefined;
    const d = matcher.nextDeadline();
    if (d === undefined) return;
    expiryTimer = setTimeout(() => { expiryTimer = undefined; onKnockEvents(matcher.expire(Date.now())); }, Math.max(0, d - Date.now()) + 1);
    expiryTimer.unref();
  };

  const spaPort = (): number => config.options.spaPort;
  // Whether the SPA port is also a UDP hit of some door; if not, SPA datagrams (possibly a flood)
  // skip the sequence matcher entirely.
  const spaPortKnocked = (): boolean => doors.some((d) => d.sequence.some((h) => h.proto === 'udp' && h.port === spaPort()));
  let spaAlsoKnock = spaPortKnocked();
  const onPacket = (p: Packet, rxMs: number): void => {
    if (o.debug) o.out(`${new Date(rxMs).toISOString()}: ${p.proto}: ${p.src}:${p.srcPort} -> ${p.dst}:${p.dstPort} ${p.payload.length} bytes\n`);
    if (verifier && config.options.spaMode === 'pcap' && p.proto === 'udp' && p.dstPort === spaPort()) {
      onSpa(p.payload, p.src, rxMs);
      if (!spaAlsoKnock) return;
    }
    const evs = matcher.offer(p, rxMs);
    if (evs.length > 0) onKnockEvents(evs);
  };

  // ---- optional UDP-socket SPA mode (hosts without pcap) ----
  let sockets: Socket[] = [];
  const openSockets = (): void => {
    for (const s of sockets) s.close();
    sockets = [];
    if (!verifier || config.options.spaMode !== 'socket') return;
    for (const type of (ipv6 ? ['udp4', 'udp6'] : ['udp4']) as ('udp4' | 'udp6')[]) {
      // a large receive buffer rides out GC pauses under a flood (the kernel caps it at net.core.rmem_max)
      const s = createSocket({ type, ipv6Only: type === 'udp6', recvBufferSize: SOCKET_BUFFER_BYTES } as Parameters<typeof createSocket>[0]);
      s.on('message', (msg, rinfo) => {
        if (!looksLikeRequest(msg)) return;   // junk: no address parsing, no verifier call
        const src = parseIp(rinfo.address.replace(/^::ffff:(?=\d+\.)/, ''));
        if (src) onSpa(new Uint8Array(msg), src.text, Date.now());
      });
      s.on('error', (e) => logger.error({ err: e }, 'SPA socket error'));
      s.bind(config.options.spaPort);
      sockets.push(s);
    }
  };

  capture = openCapture({
    iface, filter: currentFilter(), bufferSize: CAPTURE_BUFFER_BYTES,
    onPacket,
    onError: (e) => logger.error({ err: e }, 'capture error'),
  });
  if (o.debug) {
    const lt = capture.linkType;
    o.out(lt === 'ETHERNET' ? 'ethernet interface detected\n' : lt === 'LINUX_SLL' || lt === 'LINUX_SLL2' ? 'ppp interface detected (linux "cooked" encapsulation)\n' : 'raw interface detected, no encapsulation\n');
    printDoorFilters();
  }
  openSockets();

  // pid files: knockd writes PidFile only with -d; we also keep one in StateDir so
  // `knockd keys revoke` can signal a running daemon.
  const pidFile = config.options.pidFile ?? o.pidFile ?? DEFAULT_PID_FILE;
  const statePid = join(config.options.stateDir, 'knockd.pid');
  const writePid = (path: string): boolean => {
    try { writeFileSync(path, `${process.pid}\n`); return true; } catch (e) {
      klog.line(`could not create pid file ${path}: ${(e as Error).message}`);
      return false;
    }
  };
  const wrotePid = o.daemonChild ? writePid(pidFile) : false;
  writePid(statePid);

  audit.record({ event: 'daemon.start', pid: process.pid, config: config.file });
  if (o.verbose) o.out(`listening on ${iface}...\n`);
  klog.line(`starting up, listening on ${iface}`);
  logger.info({ iface, doors: config.doors.length, spa: Boolean(verifier), localAddrs }, 'knockd started');
  o.onReady?.();

  return await new Promise<number>((resolve) => {
    let stopping = false;
    const reload = (): void => {
      klog.line(`re-reading config file: ${o.configPath}`);
      if (o.verbose) o.out(`re-reading config file: ${o.configPath}\n`);
      let next: Config;
      try {
        next = loadConfig(o.configPath);
      } catch (e) {
        const msg = e instanceof AppError ? `${e.message} [${e.code}]` : String(e);
        klog.line(`error: reload failed, keeping the running configuration: ${msg}`);
        logger.error({ err: msg }, 'reload failed; old configuration kept');
        return;
      }
      // Everything that can fail comes first and changes nothing: key directory, replay store,
      // the new capture filter. Only then is running state swapped (nothing half-applied).
      let prepared: ReturnType<typeof prepareSpa>;
      let nextAddrs: string[];
      let nextMatcher: SequenceMatcher;
      try {
        prepared = prepareSpa(next);
        nextAddrs = addrs();
        nextMatcher = new SequenceMatcher(next.doors, { maxAttempts: next.options.maxAttempts, localAddrs: nextAddrs });
        capture?.setFilter(filterFor(next, next.doors, nextAddrs));
      } catch (e) {
        const msg = e instanceof AppError ? `${e.message} [${e.code}]` : String(e);
        klog.line(`error: reload failed, keeping the running configuration: ${msg}`);
        logger.error({ err: msg }, 'reload failed; old configuration kept');
        return;
      }
      try {
        applySpa(next, prepared);
      } catch (e) {
        capture?.setFilter(currentFilter()); // roll the filter back to the running config
        logger.error({ err: e }, 'reload failed while applying keys; old configuration kept');
        return;
      }
      config = next;
      localAddrs = nextAddrs;
      doors = [...next.doors];
      matcher = nextMatcher;
      spaAlsoKnock = spaPortKnocked();
      printDoorFilters();
      if ((next.options.interface ?? iface) !== iface && !o.iface) logger.warn('Interface changes need a restart; still listening on ' + iface);
      klog.reopen(next.options.logFile ?? o.logFile);
      openSockets();
      armExpiry();
      logger.info({ doors: next.doors.length }, 'configuration reloaded');
    };
    const shutdown = (sig: string): void => {
      if (stopping) return;
      stopping = true;
      if (o.verbose) o.out('closing...\n');
      klog.line('shutting down');
      logger.info({ signal: sig }, 'shutting down');
      capture?.close();
      for (const s of sockets) s.close();
      stopWatch?.();
      if (expiryTimer) clearTimeout(expiryTimer);
      clearInterval(pruneTimer);
      const finish = async (): Promise<void> => {
        if (config.options.closeOnExit) await controller.closeAll('shutdown');
        await runner.close();
        audit.record({ event: 'daemon.stop', pid: process.pid, config: config.file });
        replay?.close();
        await audit.close();
        await klog.close();
        if (wrotePid) { try { unlinkSync(pidFile); } catch { /* already gone */ } }
        try { unlinkSync(statePid); } catch { /* already gone */ }
      };
      finish().then(() => resolve(0), (e: unknown) => { logger.error({ err: e }, 'error during shutdown'); resolve(1); });
    };
    process.on('SIGHUP', reload);
    process.on('SIGTERM', () => shutdown('SIGTERM'));
    process.on('SIGINT', () => shutdown('SIGINT'));
  });
}

function loadKeyringOrEmpty(dir: string, logger: { warn: (o: object, m: string) => void }): KeyringLoad {
  logger.warn({ keysDir: dir }, 'KeysDir does not exist: no SPA key is enrolled, every SPA knock will be rejected');
  try { mkdirSync(dir, { recursive: true, mode: 0o700 }); } catch { /* reported by loadKeyring below */ }
  return loadKeyring(dir);
}
