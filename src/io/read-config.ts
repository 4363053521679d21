/**
 * Reads a knockd.conf from disk and parses it. The one_time_sequences files are opened
 * read+write (as knockd's fopen(path, "r+")) so that a file we could not later rewrite is
 * refused at start-up, not after the first successful knock.
 */
import { closeSync, openSync, readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { AppError } from '../core/errors.js';
import { parseConfig } from '../core/config/parse.js';
import type { ParseEnv } from '../core/config/parse.js';
import type { Config } from '../core/config/types.js';

const STRERROR: Readonly<Record<string, string>> = {
  ENOENT: 'No such file or directory',
  EACCES: 'Permission denied',
  EPERM: 'Operation not permitted',
  EISDIR: 'Is a directory',
  ENOTDIR: 'Not a directory',
  EROFS: 'Read-only file system',
  ELOOP: 'Too many levels of symbolic links',
  ENAMETOOLONG: 'File name too long',
  ETXTBSY: 'Text file busy',
};

export function strerror(e: unknown): string {
  const code = (e as { code?: unknown } | null)?.code;
  if (typeof code === 'string' && STRERROR[code]) return STRERROR[code];
  return e instanceof Error ? e.message : String(e);
}

const decoder = new TextDecoder('utf-8', { fatal: true });

function decode(buf: Uint8Array, path: string): string {
  try {
    return decoder.decode(buf);
  } catch {
    // find the first line that is not UTF-8, for the message
    let start = 0, line = 1;
    for (let i = 0; i <= buf.length; i++) {
      if (i === buf.length || buf[i] === 0x0a) {
        try { decoder.decode(buf.subarray(start, i)); } catch {
          throw new AppError('ERR_CONFIG_SYNTAX', `${path}:${line}: line is not valid UTF-8 (commands are passed to /bin/sh as text; save the file as UTF-8)`);
        }
        start = i + 1; line++;
      }
    }
    throw new AppError('ERR_CONFIG_SYNTAX', `${path}: file is not valid UTF-8`);
  }
}

export const fsParseEnv: ParseEnv = {
  resolvePath: (p: string): string => resolve(process.cwd(), p),
  readOts(path: string): string {
    let fd: number;
    try {
      fd = openSync(path, 'r+');
    } catch (e) {
      throw new AppError('ERR_OTS_FILE', `${path}: ${strerror(e)}`, { cause: e });
    }
    try {
      return readFileSync(fd, 'utf8');
    } catch (e) {
      throw new AppError('ERR_OTS_FILE', `${path}: ${strerror(e)}`, { cause: e });
    } finally {
      closeSync(fd);
    }
  },
};

export function loadConfig(path: string, env: ParseEnv = fsParseEnv): Config {
  let buf: Buffer;
  try {
    buf = readFileSync(path);
  } catch (e) {
    throw new AppError('ERR_CONFIG_READ', `${path}: ${strerror(e)}`, { cause: e });
  }
  return parseConfig(decode(buf, path), path, env);
}
