/**
 * The [options] section: knockd's keys plus our extensions, with their defaults. Pure.
 */
import { parseIp } from '../ip.js';
import { utf8Length } from '../utf8.js';
import { cTrim } from './catoi.js';
import { q, type Directive } from './directive.js';
import {
  DEFAULT_CLASSIC_OPEN_RATE, DEFAULT_KEYS_DIR, DEFAULT_MAX_ATTEMPTS, DEFAULT_SPA_PORT, DEFAULT_SPA_WINDOW, DEFAULT_STATE_DIR,
} from './types.js';
import { DOOR_KEY_NAMES } from './door-keys.js';

/** knockd keeps 31 characters of an interface name. */
export const MAX_INTERFACE_BYTES = 31;

export const OPTION_KEY_NAMES = new Set([
  'LOGFILE', 'PIDFILE', 'INTERFACE',
  'SPAPORT', 'KEYSDIR', 'STATEDIR', 'SPAWINDOW', 'SPAMODE', 'SPAADDRESS', 'AUDITLOG', 'CLOSEONEXIT', 'MAXATTEMPTS', 'CLASSICOPENRATE',
]);

export interface OptionsBuilder {
  useSyslog: boolean;
  logFile?: string;
  pidFile?: string;
  interface?: string;
  spaPort: number;
  keysDir: string;
  stateDir: string;
  spaWindow: number;
  spaMode: 'pcap' | 'socket';
  spaAddresses: string[];
  auditLog?: string;
  closeOnExit: boolean;
  maxAttempts: number;
  classicOpenRate: number;
}


export function defaultOptions(): OptionsBuilder {
  return {
    useSyslog: false,
    spaPort: DEFAULT_SPA_PORT,
    keysDir: DEFAULT_KEYS_DIR,
    stateDir: DEFAULT_STATE_DIR,
    spaWindow: DEFAULT_SPA_WINDOW,
    spaMode: 'pcap',
    spaAddresses: [],
    closeOnExit: true,
    maxAttempts: DEFAULT_MAX_ATTEMPTS,
    classicOpenRate: DEFAULT_CLASSIC_OPEN_RATE,
  };
}

/** Applies one [options] line. `interfaceLine` remembers where the first Interface was. */
export function applyOption(opts: OptionsBuilder, d: Directive, interfaceLine: { line: number }): void {
  const { key, keyText, value } = d;
  if (!OPTION_KEY_NAMES.has(key)) {
    d.fail('ERR_CONFIG_SYNTAX', `unknown key in [options]`,
      DOOR_KEY_NAMES.has(key) ? `${keyText} belongs in a door section` :
        'known: UseSyslog, LogFile, PidFile, Interface, SPAPort, KeysDir, StateDir, SPAWindow, SPAMode, SPAAddress, AuditLog, CloseOnExit, MaxAttempts, ClassicOpenRate');
  }
  switch (key) {
    case 'LOGFILE':
      // Empty = no log file (as knockd). Kept verbatim: knockd opens it relative to its cwd.
      if (value === '') delete opts.logFile; else opts.logFile = value;
      break;
    case 'PIDFILE':
      if (value === '') d.fail('ERR_CONFIG_VALUE', 'empty pid file name', 'knockd would try to create a file named ""; remove the line to use the default');
      opts.pidFile = value;
      break;
    case 'INTERFACE':
      if (value === '') { d.warnings.push(`${d.file}:${d.w.line}: [options] ${keyText} = "": empty Interface ignored (as knockd)`); break; }
      if (utf8Length(value) > MAX_INTERFACE_BYTES) {
        d.fail('ERR_CONFIG_VALUE', `interface name longer than ${MAX_INTERFACE_BYTES} bytes`, 'knockd would truncate it');
      }
      if (opts.interface === undefined) { opts.interface = value; interfaceLine.line = d.w.line; }
      else {
        d.warnings.push(`${d.file}:${d.w.line}: [options] ${keyText} = ${q(value)}: ignored, the first Interface (${q(opts.interface)}, line ${interfaceLine.line}) wins as in knockd`);
      }
      break;
    case 'SPAPORT': opts.spaPort = d.num(1, 65535); break;
    case 'KEYSDIR': opts.keysDir = d.path(); break;
    case 'STATEDIR': opts.stateDir = d.path(); break;
    case 'AUDITLOG': opts.auditLog = d.path(); break;
    case 'SPAWINDOW': opts.spaWindow = d.num(1, 3600, ' seconds'); break;
    case 'MAXATTEMPTS': opts.maxAttempts = d.num(1, 10_000_000); break;
    case 'CLASSICOPENRATE': opts.classicOpenRate = d.num(1, 100_000, ' opens per second per door'); break;
    case 'CLOSEONEXIT': opts.closeOnExit = d.yesNo(); break;
    case 'SPAMODE': {
      const v = value.toLowerCase();
      if (v !== 'pcap' && v !== 'socket') d.fail('ERR_CONFIG_VALUE', 'expected pcap or socket');
      opts.spaMode = v as 'pcap' | 'socket';
      break;
    }
    case 'SPAADDRESS': {
      const out: string[] = [];
      for (const [idx, item] of value.split(',').entries()) {
        const t = cTrim(item);
        if (t === '') d.fail('ERR_CONFIG_VALUE', `item ${idx + 1} is empty`, 'comma-separated numeric IPv4/IPv6 addresses');
        const ip = parseIp(t);
        if (!ip) d.fail('ERR_CONFIG_VALUE', `item ${idx + 1} ${q(t)} is not a numeric IP address`, 'host names are not resolved');
        else if (!out.includes(ip.text)) out.push(ip.text);
      }
      opts.spaAddresses = out;
      break;
    }
  }
}
