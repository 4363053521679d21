/**
 * The normalised configuration: what src/core/config/parse.ts produces from a knockd.conf
 * (plus our extensions). Every consumer (matcher, BPF filter, SPA, daemon) works from this,
 * never from raw text.
 */
import type { Proto } from '../types.js';

export type FlagName = 'fin' | 'syn' | 'rst' | 'psh' | 'ack' | 'urg';

/** One hit of a knock sequence. */
export interface Hit { readonly port: number; readonly proto: Proto }

export interface Door {
  /** Section name exactly as written between the brackets (knockd keeps it untrimmed). */
  readonly name: string;
  /** 1-based line of the section header, for messages. */
  readonly line: number;
  /** Knock sequence; empty only for SPA-only doors (spa = yes without sequence). */
  readonly sequence: readonly Hit[];
  /** Absolute path of the one_time_sequences file, if any. `sequence` then holds its current line. */
  readonly oneTimeSequences?: string;
  /** Seconds from the first hit by which the last hit must arrive. */
  readonly seqTimeout: number;
  /** Tri-state TCP flag constraints: true = must be set, false = must be clear, absent = don't care. */
  readonly tcpFlags: Readonly<Partial<Record<FlagName, boolean>>>;
  /** undefined = not set. '' = set but empty (matters for the _6 fallback rules). */
  readonly startCommand?: string;
  readonly startCommand6?: string;
  readonly stopCommand?: string;
  readonly stopCommand6?: string;
  /** Seconds between start and stop command. */
  readonly cmdTimeout: number;
  /** Canonical address text (core/ip.ts) replacing the interface addresses for this door. */
  readonly target?: string;
  /** Extension: the door may be opened by an SPA knock (`spa = yes`). */
  readonly spa: boolean;
  /** Extension `ports = 22:tcp,...`: informational, what the door opens (audit/status). */
  readonly ports?: readonly Hit[];
  /** Extension: the door (also) adds the knocker to an nftables set with a timeout (src/core/config/nft.ts). */
  readonly nft?: NftDoor;
}

/** nftables families a door's set may live in (`ip` holds IPv4 only, `ip6` IPv6 only). */
export type NftFamily = 'inet' | 'ip' | 'ip6';
/** `nft_set = FAMILY TABLE SET`: names are [A-Za-z_][A-Za-z0-9_]{0,63}. */
export interface NftSetRef { readonly family: NftFamily; readonly table: string; readonly set: string }
/** What an element admits: the address to all the door's ports, or `address . proto . port` per door port. */
export type NftElementKind = 'addr' | 'addr-port';
export interface NftDoor {
  /** Set for IPv4 knockers (`nft_set`); undefined = IPv4 knocks add no element. */
  readonly set4?: NftSetRef;
  /** Set for IPv6 knockers (`nft_set_6`); undefined = IPv6 knocks add no element. */
  readonly set6?: NftSetRef;
  /** `nft_element`, default 'addr'. The admitted ports are always the door's `ports`. */
  readonly element: NftElementKind;
}

export interface Options {
  readonly useSyslog: boolean;
  readonly logFile?: string;
  readonly pidFile?: string;
  /** First `Interface` wins, as in knockd; undefined = not set (the CLI applies the default). */
  readonly interface?: string;
  // ---- extensions (all optional in the file; defaults filled in by the parser) ----
  readonly spaPort: number;                 // SPAPort, default 62201
  readonly keysDir: string;                 // KeysDir, default /etc/knockd/keys
  readonly stateDir: string;                // StateDir, default /var/lib/knockd
  readonly spaWindow: number;               // SPAWindow seconds, default 60
  readonly spaMode: 'pcap' | 'socket';      // SPAMode, default pcap (no socket opened)
  readonly spaAddresses: readonly string[]; // SPAAddress: extra public addresses a request may name (canonical)
  readonly auditLog?: string;               // AuditLog path
  readonly closeOnExit: boolean;            // CloseOnExit, default yes (knockd leaves doors open)
  readonly maxAttempts: number;             // MaxAttempts, default 65536: cap on in-progress sequence attempts
  readonly classicOpenRate: number;         // ClassicOpenRate, default 5: new classic opens per second per door (burst 4x)
}

export interface Config {
  /** Absolute path of the file this came from. */
  readonly file: string;
  readonly options: Options;
  readonly doors: readonly Door[];
  /** Non-fatal notes (e.g. a second Interface line ignored as knockd does). */
  readonly warnings: readonly string[];
}

export const DEFAULT_SEQ_TIMEOUT = 25;
export const DEFAULT_CMD_TIMEOUT = 10;
export const DEFAULT_SPA_PORT = 62201;
export const DEFAULT_KEYS_DIR = '/etc/knockd/keys';
export const DEFAULT_STATE_DIR = '/var/lib/knockd';
export const DEFAULT_SPA_WINDOW = 60;
export const DEFAULT_MAX_ATTEMPTS = 65536;
export const DEFAULT_CLASSIC_OPEN_RATE = 5;
export const MAX_SEQUENCE = 32;
