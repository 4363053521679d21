/**
 * knockd.conf parser (knockd 0.8 language + our extensions). Pure: file access for
 * one_time_sequences goes through ParseEnv. Lexical rules follow knockd exactly (see
 * docs/ARCHITECTURE.md "knockd.conf compatibility decisions"): lines trimmed with C isspace,
 * whole-line '#' comments only, `[options]` case-sensitive, keys case-insensitive, split at
 * the first '=', bare `UseSyslog` anywhere. Values knockd would read with a surprising
 * meaning are refused: the first problem throws AppError with FILE:LINE, section, key, value.
 */
import { AppError } from '../errors.js';
import type { ErrorCode } from '../errors.js';
import { parseIp } from '../ip.js';
import { cTrim, cUpper, knockdSequence } from './catoi.js';
import { parseSequence, formatSequence } from './sequence.js';
import { checkNftDoor, nftDoorKey, type NftBuilder, type NftKey } from './nft.js';
import type { Config, Door, FlagName, Hit, Options } from './types.js';
import { utf8Length } from '../utf8.js';
export { utf8Length };
import {
  DEFAULT_CMD_TIMEOUT, DEFAULT_KEYS_DIR, DEFAULT_MAX_ATTEMPTS, DEFAULT_SEQ_TIMEOUT,
  DEFAULT_SPA_PORT, DEFAULT_SPA_WINDOW, DEFAULT_STATE_DIR,
} from './types.js';

export interface ParseEnv {
  /** Text of a one_time_sequences file (opened for read and write). Throws AppError('ERR_OTS_FILE', ...) if unusable. */
  readOts(path: string): string;
  /** Make a path absolute relative to the current directory. */
  resolvePath(p: string): string;
}

/** knockd reads lines with fgets(line, PATH_MAX): longer lines are split silently. */
export const MAX_LINE_BYTES = 4095;
/** knockd keeps 127 characters of a door name. */
export const MAX_DOOR_NAME_BYTES = 127;
/** knockd keeps 31 characters of an interface name. */
export const MAX_INTERFACE_BYTES = 31;
/** Largest timeout in seconds: Node timers overflow beyond 2^31-1 ms. */
export const MAX_TIMEOUT_SECONDS = 2147483;
export const SPA_DOOR_NAME = /^[A-Za-z0-9_.-]{1,32}$/;

const OPTION_KEYS = new Set([
  'LOGFILE', 'PIDFILE', 'INTERFACE',
  'SPAPORT', 'KEYSDIR', 'STATEDIR', 'SPAWINDOW', 'SPAMODE', 'SPAADDRESS', 'AUDITLOG', 'CLOSEONEXIT', 'MAXATTEMPTS',
]);
const DOOR_KEYS = new Set([
  'SEQUENCE', 'ONE_TIME_SEQUENCES', 'SEQ_TIMEOUT', 'TIMEOUT', 'TCPFLAGS',
  'START_COMMAND', 'COMMAND', 'START_COMMAND_6', 'COMMAND_6', 'STOP_COMMAND', 'STOP_COMMAND_6',
  'CMD_TIMEOUT', 'TARGET', 'SPA', 'PORTS', 'NFT_SET', 'NFT_SET_6', 'NFT_ELEMENT',
]);
const FLAG_TOKENS: Readonly<Record<string, readonly [FlagName, boolean]>> = {
  FIN: ['fin', true], '!FIN': ['fin', false], SYN: ['syn', true], '!SYN': ['syn', false],
  RST: ['rst', true], '!RST': ['rst', false], PSH: ['psh', true], '!PSH': ['psh', false],
  ACK: ['ack', true], '!ACK': ['ack', false], URG: ['urg', true], '!URG': ['urg', false],
};

interface DoorBuilder {
  name: string;
  line: number;
  sequence: Hit[];
  oneTimeSequences?: string;
  seqTimeout: number;
  tcpFlags: Partial<Record<FlagName, boolean>>;
  startCommand?: string;
  startCommand6?: string;
  stopCommand?: string;
  stopCommand6?: string;
  cmdTimeout: number;
  target?: string;
  spa: boolean;
  ports?: Hit[];
  nft?: NftBuilder;
}

interface OptionsBuilder {
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
}


const q = (s: string): string => JSON.stringify(s);
const short = (s: string): string => (s.length > 60 ? `${s.slice(0, 60)}...` : s);

interface Where { line: number; section?: string; key?: string; value?: string; text?: string }

export function parseConfig(text: string, file: string, env: ParseEnv): Config {
  const fail = (code: ErrorCode, w: Where, what: string, hint?: string): never => {
    const parts: string[] = [];
    if (w.section !== undefined) parts.push(`[${w.section}]`);
    if (w.key !== undefined) parts.push(w.value !== undefined ? `${w.key} = ${q(w.value)}` : w.key);
    else if (w.text !== undefined) parts.push(q(w.text));
    const loc = parts.length ? ` ${parts.join(' ')}` : '';
    throw new AppError(code, `${file}:${w.line}:${loc}: ${what}${hint ? ` (${hint})` : ''}`);
  };

  const warnings: string[] = [];
  const opts: OptionsBuilder = {
    useSyslog: false,
    spaPort: DEFAULT_SPA_PORT,
    keysDir: DEFAULT_KEYS_DIR,
    stateDir: DEFAULT_STATE_DIR,
    spaWindow: DEFAULT_SPA_WINDOW,
    spaMode: 'pcap',
    spaAddresses: [],
    closeOnExit: true,
    maxAttempts: DEFAULT_MAX_ATTEMPTS,
  };
  let interfaceLine = 0;
  const doors: DoorBuilder[] = [];
  let section: { kind: 'none' } | { kind: 'options' } | { kind: 'door'; door: DoorBuilder } = { kind: 'none' };

  // A UTF-8 byte order mark is accepted (knockd turns it into a line-1 error).
  const body = text.startsWith('\uFEFF') ? text.slice(1) : text;
  const lines = body.split('\n');

  for (let i = 0; i < lines.length; i++) {
    const lineNo = i + 1;
    const raw = lines[i] ?? '';
    if (utf8Length(raw) > MAX_LINE_BYTES) {
      fail('ERR_CONFIG_SYNTAX', { line: lineNo, text: short(cTrim(raw)) },
        `line is ${utf8Length(raw)} bytes long, at most ${MAX_LINE_BYTES} are allowed`, 'knockd would silently split it into two lines');
    }
    if (raw.includes('\0')) {
      fail('ERR_CONFIG_SYNTAX', { line: lineNo, text: short(cTrim(raw)) }, 'line contains a NUL byte', 'knockd would cut the line there');
    }
    const line = cTrim(raw);
    if (line === '' || line.startsWith('#')) continue;

    // ---- section header ----
    if (line.length >= 2 && line.startsWith('[') && line.endsWith(']')) {
      const name = line.slice(1, -1);
      if (name === '') fail('ERR_CONFIG_SYNTAX', { line: lineNo, text: line }, 'bad section name', 'a section name cannot be empty');
      if (name === 'options') { section = { kind: 'options' }; continue; }
      if (cTrim(name).toLowerCase() === 'options') {
        fail('ERR_CONFIG_SYNTAX', { line: lineNo, section: name }, 'section name is not exactly "options"',
          'knockd matches [options] case-sensitively and would make this a door; write [options]');
      }
      if (utf8Length(name) > MAX_DOOR_NAME_BYTES) {
        fail('ERR_CONFIG_SYNTAX', { line: lineNo, section: short(name) },
          `door name is ${utf8Length(name)} bytes long, at most ${MAX_DOOR_NAME_BYTES} are allowed`, 'knockd would truncate it');
      }
      const door: DoorBuilder = {
        name, line: lineNo, sequence: [], seqTimeout: DEFAULT_SEQ_TIMEOUT, tcpFlags: {},
        cmdTimeout: DEFAULT_CMD_TIMEOUT, spa: false,
      };
      doors.push(door);
      section = { kind: 'door', door };
      continue;
    }

    // ---- directive ----
    if (section.kind === 'none') {
      return fail('ERR_CONFIG_SYNTAX', { line: lineNo, text: line }, 'all directives must belong to a section',
        line.startsWith('\uFEFF') ? 'the line starts with a byte order mark' : 'start with [options] or [doorname]');
    }
    const secName = section.kind === 'door' ? section.door.name : 'options';
    const eq = line.indexOf('=');
    if (eq < 0) {
      if (cUpper(line) === 'USESYSLOG') { opts.useSyslog = true; continue; }
      fail('ERR_CONFIG_SYNTAX', { line: lineNo, section: secName, text: line }, 'syntax error: expected KEY = VALUE',
        line.startsWith(';') ? "';' does not start a comment, '#' at the start of a line does" : undefined);
    }
    const keyText = cTrim(line.slice(0, eq));
    const value = cTrim(line.slice(eq + 1));
    const key = cUpper(keyText);
    const w: Where = { line: lineNo, section: secName, key: keyText, value };
    if (key === 'USESYSLOG') {
      fail('ERR_CONFIG_SYNTAX', w, 'UseSyslog takes no value', 'write a bare "UseSyslog" line; knockd rejects "UseSyslog = ..." too');
    }
    if (keyText === '') fail('ERR_CONFIG_SYNTAX', w, 'syntax error: missing key before "="');

    const num = (min: number, max: number, unit = ''): number => {
      if (!/^[0-9]+$/.test(value)) {
        fail('ERR_CONFIG_VALUE', w, `not a decimal number ${min}..${max}${unit}`,
          'knockd would read it with atoi(); write digits only');
      }
      const n = value.replace(/^0+(?=\d)/, '').length > 10 ? Infinity : Number(value);
      if (n < min || n > max) fail('ERR_CONFIG_VALUE', w, `out of range, use ${min}..${max}${unit}`);
      return n;
    };
    const yesNo = (): boolean => {
      const v = value.toLowerCase();
      if (v === 'yes') return true;
      if (v === 'no') return false;
      return fail('ERR_CONFIG_VALUE', w, 'expected yes or no');
    };
    const path = (): string => {
      if (value === '') fail('ERR_CONFIG_VALUE', w, 'empty path', 'remove the line to use the default');
      return env.resolvePath(value);
    };

    if (section.kind === 'options') {
      if (!OPTION_KEYS.has(key)) {
        fail('ERR_CONFIG_SYNTAX', w, `unknown key in [options]`,
          DOOR_KEYS.has(key) ? `${keyText} belongs in a door section` :
            'known: UseSyslog, LogFile, PidFile, Interface, SPAPort, KeysDir, StateDir, SPAWindow, SPAMode, SPAAddress, AuditLog, CloseOnExit, MaxAttempts');
      }
      switch (key) {
        case 'LOGFILE':
          // Empty = no log file (as knockd). Kept verbatim: knockd opens it relative to its cwd.
          if (value === '') delete opts.logFile; else opts.logFile = value;
          break;
        case 'PIDFILE':
          if (value === '') fail('ERR_CONFIG_VALUE', w, 'empty pid file name', 'knockd would try to create a file named ""; remove the line to use the default');
          opts.pidFile = value;
          break;
        case 'INTERFACE':
          if (value === '') { warnings.push(`${file}:${lineNo}: [options] ${keyText} = "": empty Interface ignored (as knockd)`); break; }
          if (utf8Length(value) > MAX_INTERFACE_BYTES) {
            fail('ERR_CONFIG_VALUE', w, `interface name longer than ${MAX_INTERFACE_BYTES} bytes`, 'knockd would truncate it');
          }
          if (opts.interface === undefined) { opts.interface = value; interfaceLine = lineNo; }
          else {
            warnings.push(`${file}:${lineNo}: [options] ${keyText} = ${q(value)}: ignored, the first Interface (${q(opts.interface)}, line ${interfaceLine}) wins as in knockd`);
          }
          break;
        case 'SPAPORT': opts.spaPort = num(1, 65535); break;
        case 'KEYSDIR': opts.keysDir = path(); break;
        case 'STATEDIR': opts.stateDir = path(); break;
        case 'AUDITLOG': opts.auditLog = path(); break;
        case 'SPAWINDOW': opts.spaWindow = num(1, 3600, ' seconds'); break;
        case 'MAXATTEMPTS': opts.maxAttempts = num(1, 10_000_000); break;
        case 'CLOSEONEXIT': opts.closeOnExit = yesNo(); break;
        case 'SPAMODE': {
          const v = value.toLowerCase();
          if (v !== 'pcap' && v !== 'socket') fail('ERR_CONFIG_VALUE', w, 'expected pcap or socket');
          opts.spaMode = v as 'pcap' | 'socket';
          break;
        }
        case 'SPAADDRESS': {
          const out: string[] = [];
          for (const [idx, item] of value.split(',').entries()) {
            const t = cTrim(item);
            if (t === '') fail('ERR_CONFIG_VALUE', w, `item ${idx + 1} is empty`, 'comma-separated numeric IPv4/IPv6 addresses');
            const ip = parseIp(t);
            if (!ip) fail('ERR_CONFIG_VALUE', w, `item ${idx + 1} ${q(t)} is not a numeric IP address`, 'host names are not resolved');
            else if (!out.includes(ip.text)) out.push(ip.text);
          }
          opts.spaAddresses = out;
          break;
        }
      }
      continue;
    }

    // ---- door keys ----
    const door = section.door;
    if (!DOOR_KEYS.has(key)) {
      fail('ERR_CONFIG_SYNTAX', w, 'unknown key in a door section',
        OPTION_KEYS.has(key) ? `${keyText} belongs in [options]` :
          'known: Sequence, One_Time_Sequences, Seq_Timeout, TCPFlags, Start_Command, Start_Command_6, Stop_Command, Stop_Command_6, Cmd_Timeout, Target, spa, ports, nft_set, nft_set_6, nft_element');
    }
    switch (key) {
      case 'SEQUENCE': {
        const r = parseSequence(value);
        if (!r.ok) fail('ERR_CONFIG_VALUE', w, r.error);
        else door.sequence = r.hits;
        break;
      }
      case 'PORTS': {
        const r = parseSequence(value);
        if (!r.ok) fail('ERR_CONFIG_VALUE', w, r.error, 'ports = PORT[:tcp|udp],...');
        else door.ports = r.hits;
        break;
      }
      case 'ONE_TIME_SEQUENCES': {
        if (value === '') fail('ERR_CONFIG_VALUE', w, 'empty path');
        const abs = env.resolvePath(value);
        let content = '';
        try {
          content = env.readOts(abs);
        } catch (e) {
          const msg = e instanceof Error ? e.message : String(e);
          fail('ERR_OTS_FILE', w, msg);
        }
        door.sequence = firstOtsSequence(content, abs, door.name, warnings, (what, hint) => fail('ERR_OTS_FILE', w, what, hint));
        door.oneTimeSequences = abs;
        break;
      }
      case 'SEQ_TIMEOUT': case 'TIMEOUT': door.seqTimeout = num(0, MAX_TIMEOUT_SECONDS, ' seconds'); break;
      case 'CMD_TIMEOUT': door.cmdTimeout = num(0, MAX_TIMEOUT_SECONDS, ' seconds'); break;
      case 'TCPFLAGS': {
        // knockd: upper-case, split on ',', tokens NOT trimmed, later token wins, lines accumulate.
        for (const tok of cUpper(value).split(',')) {
          const f = FLAG_TOKENS[tok];
          if (!f) {
            fail('ERR_CONFIG_VALUE', w, `unrecognized flag ${q(tok)}`,
              tok !== cTrim(tok) ? 'no blanks around flags, knockd rejects them too' :
                tok === '' ? 'empty flag' : 'use fin, syn, rst, psh, ack, urg, optionally with !');
          } else door.tcpFlags[f[0]] = f[1];
        }
        break;
      }
      case 'START_COMMAND': case 'COMMAND': door.startCommand = value; break;
      case 'START_COMMAND_6': case 'COMMAND_6': door.startCommand6 = value; break;
      case 'STOP_COMMAND': door.stopCommand = value; break;
      case 'STOP_COMMAND_6': door.stopCommand6 = value; break;
      case 'TARGET': {
        const ip = parseIp(value);
        if (!ip) {
          fail('ERR_CONFIG_VALUE', w, 'not a numeric IPv4/IPv6 address',
            value === '' ? 'empty target' :
              'knockd compares the destination address as text, so a host name never matches; write the numeric address');
        } else door.target = ip.text;
        break;
      }
      case 'SPA': door.spa = yesNo(); break;
      case 'NFT_SET': case 'NFT_SET_6': case 'NFT_ELEMENT': {
        const p = nftDoorKey(door.nft ??= { element: 'addr' }, key as NftKey, value);
        if (p) fail('ERR_CONFIG_VALUE', w, p.error, p.hint);
        break;
      }
    }
  }

  // ---- whole-door checks (in file order, first problem wins) ----
  const spaNames = new Map<string, number>();
  const nftSets = new Map<string, { door: string; line: number }>();
  for (const d of doors) {
    const w: Where = { line: d.line, section: d.name };
    if (d.sequence.length === 0 && !d.spa) {
      fail('ERR_CONFIG_DOOR', w, `section '${d.name}' has an empty knock sequence`,
        'add "sequence = PORT,PORT,..." or "one_time_sequences = FILE", or "spa = yes" for an SPA-only door');
    }
    if (d.spa) {
      if (!SPA_DOOR_NAME.test(d.name)) {
        fail('ERR_CONFIG_DOOR', w, 'an SPA door name must be 1-32 characters of A-Z a-z 0-9 _ . -', 'clients name the door in signed requests');
      }
      const prev = spaNames.get(d.name);
      if (prev !== undefined) fail('ERR_CONFIG_DOOR', w, `a second SPA door named '${d.name}' (first at line ${prev})`, 'SPA door names must be unique');
      spaNames.set(d.name, d.line);
    }
    const nftProblem = checkNftDoor(d, nftSets);
    if (nftProblem) fail('ERR_CONFIG_DOOR', w, nftProblem.error, nftProblem.hint);
  }

  const options: Options = { ...opts, spaAddresses: [...opts.spaAddresses] };
  const outDoors: Door[] = doors.map((d) => ({ ...d, tcpFlags: { ...d.tcpFlags } }));
  return { file: env.resolvePath(file), options, doors: outDoors, warnings };
}

/**
 * The first usable line of a one-time-sequences file. Lines knockd also skips (port > 65535,
 * bad protocol, > 32 items) are skipped with a warning as knockd does; lines knockd would use
 * with a meaning we refuse (port 0 from an empty item, `-1`, ...) are an error, because
 * skipping them would make us expect a different sequence than knockd.
 */
function firstOtsSequence(
  content: string, path: string, door: string, warnings: string[],
  fail: (what: string, hint?: string) => never,
): Hit[] {
  const lines = content.split('\n');
  for (let i = 0; i < lines.length; i++) {
    const line = cTrim(lines[i] ?? '');
    if (line === '' || line.startsWith('#')) continue;
    const r = parseSequence(line);
    if (r.ok) return r.hits;
    const k = knockdSequence(line);
    if (k.ok) {
      fail(`${path}:${i + 1}: ${q(short(line))}: ${r.error}`,
        `knockd would use it as ${formatSequence(k.hits)}; fix or comment out the line`);
    }
    warnings.push(`${path}:${i + 1}: ${q(short(line))}: skipped invalid sequence for door '${door}': ${r.error}`);
  }
  return fail(`${path}: no valid sequence left in the one time sequences file for door '${door}'`,
    'add a line like " 7000,8000:udp,9000"');
}
