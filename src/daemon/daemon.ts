/**
 * The daemon's lifecycle over injected ports: start (nft channel, journal and nft set
 * reconcile, keys, capture), SIGHUP reload (reopen logs first; then config, keys, nft channel
 * when the sets change, filter - everything that can fail is
 * prepared before anything is swapped, so a broken config or key directory changes nothing),
 * key-directory changes, and shutdown (close every lease with CloseOnExit; stop commands that
 * keep failing stay in the journal for the next start). Decisions are the engine's
 * (src/core/engine); effects are carried out by executor.ts. Real ports: main.ts.
 */
import { AppError } from '../core/errors.js';
import type { Config } from '../core/config/types.js';
import { Engine, filterFor, type EngineSetup } from '../core/engine/engine.js';
import { SpaVerifier, type SpaContext } from '../core/spa/verify.js';
import { Executor } from './executor.js';
import { NftLink, type PreparedNft } from './nft-link.js';
import type { CapturePort, DaemonPorts, LoadedKeys, ReplayPort } from './ports.js';

export interface DaemonOptions {
  readonly configPath: string;
  /** -i (beats Interface). */
  readonly iface?: string | undefined;
  /** -g (LogFile beats it, as in knockd). */
  readonly logFile?: string | undefined;
  readonly debug?: boolean;
  readonly verbose?: boolean;
  readonly lookup?: boolean;
  readonly onlyV4?: boolean;
}

export interface DaemonHandle {
  readonly engine: Engine;
  readonly iface: string;
  config(): Config;
  /**
   * Resolves once the daemon takes knocks: the nft channel open and the sets reconciled, capture
   * running (at once without nft doors). Rejects (AppError, e.g. ERR_NFT) when the start failed;
   * everything opened is closed again.
   */
  readonly ready: Promise<void>;
  /** SIGHUP: reopen logs, re-read config and keys (and the nft sets). Never rejects; false when the reload was refused. */
  reload(): Promise<boolean>;
  /** The key directory changed. */
  reloadKeys(): void;
  /** An SPA datagram from a socket (SPAMode = socket). */
  spa(payload: Uint8Array, src: string, rxMs: number): void;
  /** SIGTERM/SIGINT; resolves with the exit status. */
  stop(signal: string): Promise<number>;
  /** Capture counters since start (SIGUSR2 line; benchmarks), when the capture keeps them. */
  captureStats(): { frames: number; decoded: number; dropped: number } | undefined;
}

export const DEFAULT_INTERFACE = 'eth0';
/** How long shutdown waits for stop commands before leaving the rest to the next start. */
export const SHUTDOWN_LIMIT_MS = 30_000;

const hasSpa = (c: Config): boolean => c.doors.some((d) => d.spa);
/** Capture is needed for sequence doors, and for SPA in pcap mode. */
export const needsCapture = (c: Config): boolean => c.doors.some((d) => d.sequence.length > 0) || (hasSpa(c) && c.options.spaMode === 'pcap');
const message = (e: unknown): string => (e instanceof AppError ? `${e.message} [${e.code}]` : e instanceof Error ? e.message : String(e));

export function startDaemon(ports: DaemonPorts, o: DaemonOptions): DaemonHandle {
  const log = ports.logger;
  let config = ports.loadConfig(o.configPath);
  const iface = o.iface ?? config.options.interface ?? DEFAULT_INTERFACE;
  const ipv6 = !o.onlyV4;
  const logFile = (c: Config): string | undefined => c.options.logFile ?? o.logFile;
  const klog = ports.openKnockdLog(logFile(config));
  const audit = ports.openAudit(config.options.auditLog);
  for (const w of config.warnings) log.log('warn', { config: config.file }, w);
  const journal = ports.openJournal(config.options.stateDir);
  const stateDir = config.options.stateDir;
  let replay: ReplayPort | undefined;
  let verifier: SpaVerifier | undefined;
  let keysNow: LoadedKeys | undefined;
  let current: EngineSetup;

  const spaContext = (c: Config): SpaContext => ({
    doors: c.doors, ownAddrs: () => current.localAddrs, spaAddrs: c.options.spaAddresses, windowMs: c.options.spaWindow * 1000,
    // the replay store's history: the largest window ever, and its floor (first start, raised window)
    ...(replay ? { maxWindowMs: replay.maxWindowMs } : {}),
    notBeforeMs: Math.max(ports.notBeforeMs ?? 0, replay?.floorMs ?? 0),
  });

  /** Everything a config needs that can fail (addresses, keys, replay store); changes nothing running. */
  const prepare = (c: Config): { setup: EngineSetup; keys?: LoadedKeys } => {
    const localAddrs = ports.localAddrs(iface, ipv6);
    if (!hasSpa(c)) return { setup: { config: c, localAddrs, ipv6 } };
    if (c.options.stateDir !== stateDir) throw new AppError('ERR_STATE', `StateDir changed from ${stateDir} to ${c.options.stateDir}: that needs a restart`);
    const keys = ports.loadKeys(c.options.keysDir, keysNow);
    replay ??= ports.openReplay(stateDir, c.options.spaWindow * 1000);
    verifier ??= new SpaVerifier(keys.keyring, replay, spaContext(c));
    return { setup: { config: c, localAddrs, ipv6, verifier, keyring: keys.keyring }, keys };
  };

  const first = prepare(config);
  current = first.setup;
  const engine = new Engine(current, { lookup: o.lookup ?? false, ...(ports.hashSeed !== undefined ? { hashSeed: ports.hashSeed } : {}) });
  const ex = new Executor({ engine, ports, journal, audit, klog, capture: undefined, debug: o.debug ?? false });
  const nft = new NftLink(ports);

  const ack = (k: LoadedKeys): void => {
    keysNow = k;
    for (const r of k.refused) log.log('warn', { file: r.path, error: r.error }, 'key record refused (the other keys are loaded)');
    try {
      ports.writeAck(stateDir, { pid: ports.pid, revision: k.revision, loadedAt: ports.now(), keys: k.keyring.size, refused: k.refused.map((r) => ({ file: r.path, error: r.error })) });
    } catch (e) { log.log('error', { err: message(e) }, 'cannot write the keyring acknowledgement'); }
  };

  let capture: CapturePort | undefined;
  const openCapture = (): void => {
    if (!needsCapture(config)) return;
    const filter = filterFor(current);
    capture = ports.openCapture({
      iface, filter,
      onPacket: (p, rxMs) => {
        if (o.debug) ports.out(`${new Date(rxMs).toISOString()}: ${p.proto}: ${p.src}:${p.srcPort} -> ${p.dst}:${p.dstPort} ${p.payload.length} bytes\n`);
        ex.feed(engine.packet(p, rxMs, ports.now()));
      },
      onError: (e) => log.log('error', { err: e.message }, 'capture error'),
    });
    ex.capture = capture;
    ex.appliedFilter = filter;
  };

  let stopWatch: (() => void) | undefined;
  const watch = (): void => {
    stopWatch?.();
    stopWatch = hasSpa(config) && ports.watchKeys ? ports.watchKeys(config.options.keysDir, () => handle.reloadKeys()) : undefined;
  };

  /** Without nft doors this runs to the end synchronously (no await is reached). */
  const start = async (): Promise<void> => {
    const sets = nft.changes(config) ? nft.commit(await nft.prepare(config)) : [];
    ex.nft = nft.port;
    ex.feed(engine.restore(journal.entries().map((e) => ({ ...e.lease, ...(e.closing ? { closing: e.closing } : {}) })), ports.now()));
    if (sets.length > 0) await nft.reconcile(sets, engine, (fx) => ex.feed(fx));
    if (first.keys) { ex.feed(engine.keys(first.keys.keyring, ports.now())); ack(first.keys); }
    openCapture();
    watch();
    audit.record({ event: 'daemon.start', pid: ports.pid, config: config.file });
    if (o.verbose) ports.out(`listening on ${iface}...\n`);
    klog.line(`starting up, listening on ${iface}`);
    log.log('info', { iface, doors: config.doors.length, spa: Boolean(current.verifier), localAddrs: current.localAddrs, nft: Boolean(nft.port) }, 'knockd started');
  };
  let startFailed = false;
  const ready = start().catch(async (e: unknown) => {
    startFailed = true;
    ex.stop();
    capture?.close();
    await nft.close();
    replay?.close();
    journal.close();
    await audit.close();
    await klog.close();
    throw e;
  });
  void ready.catch(() => undefined);   // the caller awaits it; an unawaited failure is no crash

  let stopping: Promise<number> | undefined;
  let reloading: Promise<boolean> | undefined;
  const reload = async (): Promise<boolean> => {
    if (stopping) return false;
    klog.reopen(logFile(config));   // log rotation: always, even when the new config is broken
    audit.reopen();
    klog.line(`re-reading config file: ${o.configPath}`);
    if (o.verbose) ports.out(`re-reading config file: ${o.configPath}\n`);
    let next: { setup: EngineSetup; keys?: LoadedKeys };
    let nextNft: PreparedNft | undefined;
    try {
      const c = ports.loadConfig(o.configPath);
      next = prepare(c);
      if (nft.changes(c)) nextNft = await nft.prepare(c);   // awaits only when the sets change
      if (stopping) throw new AppError('ERR_STATE', 'the daemon is stopping');
      const f = filterFor(next.setup);
      if (capture && f !== ex.appliedFilter) { capture.setFilter(f); ex.appliedFilter = f; }
      if (!capture && needsCapture(c)) throw new AppError('ERR_CAPTURE', 'the new configuration needs packet capture, which was not running: that needs a restart');
    } catch (e) {
      await nextNft?.port?.close();
      klog.line(`error: reload failed, keeping the running configuration: ${message(e)}`);
      log.log('error', { err: message(e) }, 'reload failed; old configuration kept');
      return false;
    }
    const c = next.setup.config;
    if ((c.options.interface ?? iface) !== iface && !o.iface) log.log('warn', {}, `Interface changes need a restart; still listening on ${iface}`);
    if (logFile(c) !== logFile(config)) klog.reopen(logFile(c));
    config = c;
    current = next.setup;
    verifier?.setContext(spaContext(c));
    ex.feed(engine.reload(current));
    if (next.keys) { ex.feed(engine.keys(next.keys.keyring, ports.now())); ack(next.keys); }
    watch();
    if (nextNft) {
      const added = nft.commit(nextNft);
      ex.nft = nft.port;
      await nft.reconcile(added, engine, (fx) => ex.feed(fx));
    }
    return true;
  };

  const handle: DaemonHandle = {
    engine, iface, ready,
    config: () => config,
    reload(): Promise<boolean> {
      // one at a time; the first runs at once (synchronously up to its first await)
      const run = (): Promise<boolean> => reload().catch((e: unknown) => { log.log('error', { err: message(e) }, 'reload failed'); return false; });
      const p = reloading ? reloading.then(run) : run();
      reloading = p;
      void p.then(() => { if (reloading === p) reloading = undefined; });
      return p;
    },
    reloadKeys(): void {
      if (stopping || !hasSpa(config)) return;
      let k: LoadedKeys;
      try { k = ports.loadKeys(config.options.keysDir, keysNow); } catch (e) {
        log.log('error', { err: message(e) }, 'key directory reload failed; keeping the previous keys');
        return;
      }
      ex.feed(engine.keys(k.keyring, ports.now()));
      ack(k);
    },
    spa(payload, src, rxMs): void { ex.feed(engine.spa(payload, src, rxMs, ports.now())); },
    stop(signal: string): Promise<number> {
      stopping ??= (async () => {
        await ready.catch(() => undefined);
        if (startFailed) return 1;
        if (o.verbose) ports.out('closing...\n');
        klog.line('shutting down');
        log.log('info', { signal }, 'shutting down');
        capture?.close();
        stopWatch?.();
        ex.feed(engine.shutdown(config.options.closeOnExit, ports.now()));
        if (!(await ex.whenSettled(SHUTDOWN_LIMIT_MS))) log.log('warn', { leases: engine.leases(ports.now()).length }, 'shutdown: some stop commands did not finish; the journal keeps them for the next start');
        ex.stop();
        await ports.runner.close();
        await nft.close();
        audit.record({ event: 'daemon.stop', pid: ports.pid, config: config.file });
        replay?.close();
        journal.close();
        await audit.close();
        await klog.close();
        return 0;
      })();
      return stopping;
    },
    captureStats: () => capture?.stats?.(),
  };
  return handle;
}
