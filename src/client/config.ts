/**
 * Reading `~/.knock/config` (src/core/profile.ts parses it). Like ssh with ~/.ssh/config, a
 * file that someone else could write is refused: it names the key and the address to open.
 */
import { readFileSync, statSync } from 'node:fs';
import { dirname, isAbsolute, join, resolve } from 'node:path';
import { AppError } from '../core/errors.js';
import { parseProfiles, type ProfileFile } from '../core/profile.js';

export const defaultConfigPath = (home: string): string => join(home, '.knock', 'config');
const MAX_CONFIG = 256 * 1024;

/**
 * The parsed profiles, or undefined when the file does not exist and `required` is false
 * (the default path is optional; a path given with --config is not).
 */
export function readProfileFile(path: string, required: boolean): ProfileFile | undefined {
  let st;
  // throwIfNoEntry: a missing default config (the usual case) costs no exception (~0.1 ms)
  try { st = statSync(path, { throwIfNoEntry: required }); } catch (e) {
    throw new AppError('ERR_CONFIG_READ', `cannot read '${path}': ${(e as NodeJS.ErrnoException).code ?? 'error'}`, { cause: e });
  }
  if (!st) return undefined;
  if (!st.isFile()) throw new AppError('ERR_CONFIG_READ', `'${path}' is not a regular file`);
  const uid = typeof process.getuid === 'function' ? process.getuid() : st.uid;
  if (st.uid !== uid && st.uid !== 0) {
    throw new AppError('ERR_CONFIG_READ', `bad owner for '${path}': owned by uid ${st.uid}, not by you (uid ${uid}) or root`);
  }
  if ((st.mode & 0o022) !== 0) {
    throw new AppError('ERR_CONFIG_READ', `bad permissions 0${(st.mode & 0o777).toString(8)} for '${path}': writable by group or others; run 'chmod go-w ${path}'`);
  }
  if (st.size > MAX_CONFIG) throw new AppError('ERR_CONFIG_READ', `'${path}' is larger than ${MAX_CONFIG} bytes`);
  return parseProfiles(readFileSync(path, 'utf8'), path);
}

/** `~/x` → home/x; a relative path is taken relative to the config file's directory. */
export function expandPath(p: string, configPath: string, home: string): string {
  if (p === '~') return home;
  if (p.startsWith('~/')) return join(home, p.slice(2));
  return isAbsolute(p) ? p : resolve(dirname(configPath), p);
}
