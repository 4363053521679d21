/**
 * knockd.conf parser (knockd 0.8 language + our extensions). Pure: file access for
 * one_time_sequences goes through ParseEnv. Lexical rules follow knockd exactly (see
 * docs/ARCHITECTURE.md "knockd.conf compatibility decisions"): lines trimmed with C isspace,
 * whole-line '#' comments only, `[options]` case-sensitive, keys case-insensitive, split at
 * the first '=', bare `UseSyslog` anywhere. Values knockd would read with a surprising
 * meaning are refused: the first problem throws AppError with FILE:LINE, section, key, value.
 * The keys themselves live in options.ts ([options]) and door-keys.ts (door sections).
 */
import { cTrim, cUpper } from './catoi.js';
import type { Config, Door, Options } from './types.js';
import { utf8Length } from '../utf8.js';
import { directive, failAt, short, type Where } from './directive.js';
import { applyOption, defaultOptions, OPTION_KEY_NAMES } from './options.js';
import { applyDoorKey, type DoorBuilder } from './door-keys.js';
import { checkNftDoor } from './nft.js';
import { DEFAULT_CMD_TIMEOUT, DEFAULT_SEQ_TIMEOUT } from './types.js';
export { utf8Length };
export { MAX_INTERFACE_BYTES } from './options.js';
export { MAX_TIMEOUT_SECONDS } from './door-keys.js';

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
export const SPA_DOOR_NAME = /^[A-Za-z0-9_.-]{1,32}$/;

export function parseConfig(text: string, file: string, env: ParseEnv): Config {
  const fail = (code: Parameters<typeof failAt>[1], w: Where, what: string, hint?: string): never => failAt(file, code, w, what, hint);

  const warnings: string[] = [];
  const opts = defaultOptions();
  const interfaceLine = { line: 0 };
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

    const d = directive(file, env, warnings, w, key, keyText, value);
    if (section.kind === 'options') {
      applyOption(opts, d, interfaceLine);
    } else {
      applyDoorKey(section.door, d, (k) => OPTION_KEY_NAMES.has(k));
    }
  }

  // ---- whole-door checks (in file order, first problem wins) ----
  const spaNames = new Map<string, number>();
  const nftSets = new Map<string, { door: string; line: number }>();
  for (const d of doors) {
    const w: Where = { line: d.line, section: d.name };
    const nftProblem = checkNftDoor(d, nftSets);
    if (nftProblem) fail('ERR_CONFIG_DOOR', w, nftProblem.error, nftProblem.hint);
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
  }

  const options: Options = { ...opts, spaAddresses: [...opts.spaAddresses] };
  const outDoors: Door[] = doors.map((d) => ({ ...d, tcpFlags: { ...d.tcpFlags } }));
  return { file: env.resolvePath(file), options, doors: outDoors, warnings };
}
