/**
 * The daemon's ports: everything it needs from the world, injected. src/daemon/main.ts wires
 * the real ones (pcap, the bash runner, files, pino, timers); the integration tests wire an
 * in-memory capture, a fake firewall and a fake clock, and run the whole daemon as a normal
 * user (test/integration). Types only.
 */
import type { AuditEvent } from '../core/audit/events.js';
import type { Config, Hit, NftSetRef } from '../core/config/types.js';
import type { CommandResult, JournalRecord, Lane, LogLevel, NftResult } from '../core/engine/effects.js';
import type { NftTarget } from '../core/firewall/nft.js';
import type { NftListedElement } from '../core/firewall/nft-list.js';
import type { Keyring } from '../core/keys/keyring.js';
import type { KeyRecord } from '../core/keys/record.js';
import type { ReplayLog } from '../core/spa/replay.js';
import type { Packet } from '../core/types.js';
import type { JournalEntry } from '../io/journal.js';

export interface CapturePort {
  readonly linkType: string;
  /** Replace the filter; throws (and changes nothing) when the filter is refused. */
  setFilter(expr: string): void;
  close(): void;
  /** Frames the capture handed over, decoded and dropped (io/capture.ts); absent in fakes. */
  stats?(): { frames: number; decoded: number; dropped: number };
}

export interface CaptureOpen {
  readonly iface: string;
  readonly filter: string;
  onPacket(p: Packet, rxMs: number): void;
  onError(e: Error): void;
}

export interface RunnerPort {
  run(command: string, lane: Lane): Promise<CommandResult>;
  close(): Promise<void>;
}

/** The nft channel (io/nft.ts NftChannel): batches are applied in the order apply() is called. */
export interface NftPort {
  /** One transaction; never throws. */
  apply(lines: readonly string[]): Promise<NftResult>;
  /** The elements of a set now; never throws. */
  list(set: NftSetRef): Promise<{ ok: true; elements: readonly NftListedElement[] } | { ok: false; error: string }>;
  close(): Promise<void>;
}

export interface JournalPort {
  entries(): JournalEntry[];
  append(r: JournalRecord): void;
  close(): void;
}

export interface AuditPort {
  record(e: AuditEvent): void;
  /** Reopen the file by name (log rotation). */
  reopen(): void;
  close(): Promise<void>;
}

export interface KnockdLogPort {
  line(msg: string): void;
  reopen(logFile: string | undefined): void;
  close(): Promise<void>;
}

export interface LoggerPort {
  log(level: LogLevel, fields: Readonly<Record<string, unknown>>, msg: string): void;
}

export interface TimerHandle { cancel(): void }

export interface LoadedKeys {
  readonly keyring: Keyring;
  /** Files refused (reported; they never block the other records). */
  readonly refused: readonly { readonly path: string; readonly error: string }[];
  /** Identifies the record set, so `knockd keys` can tell when the daemon applied a change. */
  readonly revision: string;
  /** What the loader may reuse next time: records by path, with their file's identity when read. */
  readonly files?: ReadonlyMap<string, { readonly identity: string; readonly rec: KeyRecord }>;
}

/** What the daemon acknowledges after loading keys (StateDir/keyring.ack). */
export interface KeyringAck {
  readonly pid: number;
  readonly revision: string;
  readonly loadedAt: number;
  readonly keys: number;
  readonly refused: readonly { readonly file: string; readonly error: string }[];
}

export interface ReplayPort extends ReplayLog {
  close(): void;
  /** SPAWindow in force from now; a raise past the largest window ever moves the floor (persisted). */
  setWindow(windowMs: number, now: number): unknown;
  /** Requests signed before this are stale (first start, or a raised window: PROTOCOL.md §4). */
  readonly floorMs: number;
  /** The largest window ever in force: replay records are kept this long. */
  readonly maxWindowMs: number;
}

export interface DaemonPorts {
  now(): number;
  setTimer(fn: () => void, ms: number): TimerHandle;
  loadConfig(path: string): Config;
  localAddrs(iface: string, ipv6: boolean): string[];
  openCapture(o: CaptureOpen): CapturePort;
  runner: RunnerPort;
  /** Start the nft channel and check the sets (exist, `flags timeout`, type); throws AppError('ERR_NFT'). */
  openNft?(targets: readonly NftTarget[]): Promise<NftPort>;
  openJournal(stateDir: string): JournalPort;
  openAudit(path: string | undefined): AuditPort;
  openKnockdLog(logFile: string | undefined): KnockdLogPort;
  logger: LoggerPort;
  /** Returns `prev` itself when the directory's revision is unchanged. */
  loadKeys(dir: string, prev?: LoadedKeys): LoadedKeys;
  /** Call `onChange` when the key directory changes; returns a stop function. */
  watchKeys?(dir: string, onChange: () => void): () => void;
  writeAck(stateDir: string, ack: KeyringAck): void;
  openReplay(stateDir: string, windowMs: number): ReplayPort;
  /** Consume a used one-time sequence; returns the next one (undefined: none left). Throws on file errors. */
  consumeOts(path: string, used: readonly Hit[]): readonly Hit[] | undefined;
  /** -l */
  reverseLookup?(src: string): Promise<string | undefined>;
  /** Requests signed before this time are stale (last boot). */
  readonly notBeforeMs?: number;
  /** Random seed for the classic attempt table (main.ts: from crypto). */
  readonly hashSeed?: number;
  /** stdout (knockd's -v and -D output). */
  out(s: string): void;
  readonly pid: number;
}
