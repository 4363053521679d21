/**
 * Command selection and %IP% expansion, exactly as knockd 0.8 does it
 * (process_attempt() and parse_cmd(), knockd-behaviour.md §1.6).
 * Pure: no I/O.
 */
import type { Door } from '../config/types.js';
import type { Family, Ip } from '../ip.js';
import { utf8Length } from '../utf8.js';
export { utf8Length };

/** knockd refuses an expanded command of PATH_MAX (4096) bytes or more. */
export const MAX_COMMAND_BYTES = 4096;

export interface SelectedCommands {
  /** The start command to run; undefined when nothing runs (unset or empty). */
  readonly start?: string;
  /** The stop command; '' means "set but empty" (a lease whose close runs nothing). */
  readonly stop?: string;
}

/**
 * IPv4 → start_command / stop_command. IPv6 → start_command_6 if it is *set* (even to ''),
 * else start_command; independently stop_command_6 if set, else stop_command.
 * An empty start command runs nothing; the stop command is then irrelevant (knockd never
 * runs it), so it is dropped too.
 */
export function selectCommands(door: Door, family: Family): SelectedCommands {
  const start = family === 6 && door.startCommand6 !== undefined ? door.startCommand6 : door.startCommand;
  const stop = family === 6 && door.stopCommand6 !== undefined ? door.stopCommand6 : door.stopCommand;
  if (start === undefined || start === '') return {};
  return stop === undefined ? { start } : { start, stop };
}

const TOKEN = '%IP%';

/**
 * Replace every literal, case-sensitive `%IP%` by the canonical address text. No other
 * tokens, no escaping, no recursion (the inserted text never contains '%').
 * Returns undefined when the result would be >= 4096 bytes (knockd refuses to run it).
 */
export function expandCommand(template: string, ip: Ip): string | undefined {
  const out = template.split(TOKEN).join(ip.text);
  if (utf8Length(out) >= MAX_COMMAND_BYTES) return undefined;
  return out;
}

