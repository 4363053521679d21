/**
 * Client key files on disk (PROTOCOL.md §6): read with ssh's permission rule, write atomically,
 * `knock --keygen [--comment C]` and `knock --pubkey` (print the public line again).
 */
import { randomBytes } from 'node:crypto';
import { closeSync, existsSync, mkdirSync, openSync, readFileSync, readSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { AppError, isAppError } from '../core/errors.js';
import { homeDirectory } from './home.js';
import { writeFileAtomic } from '../io/safe-file.js';
import { clientKeyFromSecret, clientKeyFromSeed, formatClientKey, formatEnrolLine, formatPublicLine, formatSharedLine, parseClientKey, PUBLIC_PREFIX, type ClientKey } from '../core/keys/client.js';

export const defaultKeyPath = (home: string): string => join(home, '.knock', 'key');
const PRIVATE_MARK = ' — PRIVATE, keep this file secret';
const MAX_KEY_FILE = 4096;

function firstBytes(path: string, n: number): string {
  const fd = openSync(path, 'r');
  try {
    const b = Buffer.alloc(n);
    return b.subarray(0, readSync(fd, b, 0, n, 0)).toString('utf8');
  } finally { closeSync(fd); }
}

/** Read a client key file, refusing group/other access like ssh does. */
export function loadClientKeyFile(path: string): ClientKey {
  return parseClientKey(readKeyText(path), path);
}

/** The key and the comment line of its file (`knock --pubkey`). */
export function readClientKeyFile(path: string): { key: ClientKey; comment?: string } {
  const text = readKeyText(path);
  const key = parseClientKey(text, path);
  const c = /^# (.*)$/m.exec(text)?.[1]?.replace(PRIVATE_MARK, '').trim();
  return c ? { key, comment: c } : { key };
}

/** The text of a key file after the checks, in this order: regular file, not a public line, mode, size. */
function readKeyText(path: string): string {
  let st;
  try { st = statSync(path); } catch (e) {
    const code = (e as NodeJS.ErrnoException).code ?? 'error';
    const hint = code === 'ENOENT' ? ` (create one with 'knock --keygen${path.endsWith('/.knock/key') ? '' : ` --key ${path}`}')` : '';
    throw new AppError('ERR_KEY_FILE', `cannot read key file '${path}': ${code}${hint}`, { cause: e });
  }
  if (!st.isFile()) throw new AppError('ERR_KEY_FILE', `'${path}' is not a regular file`);
  // A file of key size is read once; the checks below then look at that text.
  const text = st.size <= MAX_KEY_FILE ? readFileSync(path, 'utf8') : undefined;
  // A public or enrolment line is harmless to read; say what it is before complaining about its mode.
  if ((text ?? firstBytes(path, PUBLIC_PREFIX.length)).startsWith(PUBLIC_PREFIX)) {
    const ext = /\.(pub|enrol)$/.exec(path)?.[0] ?? '';
    const priv = ext ? path.slice(0, -ext.length) : 'the private key file';
    throw new AppError('ERR_KEY_FILE', `'${path}' is the ${ext === '.enrol' ? 'enrolment line' : 'public half'} of a key; use ${priv} (the file without ${ext || '.pub'}) with --key`);
  }
  if ((st.mode & 0o077) !== 0) {
    throw new AppError('ERR_KEY_FILE', `permissions 0${(st.mode & 0o777).toString(8)} for '${path}' are too open; run 'chmod 600 ${path}'`);
  }
  if (text === undefined) throw new AppError('ERR_KEY_FILE', `'${path}' is too large to be a key file`);
  return text;
}

/**
 * Write `text` to `path` with `mode` atomically (io/safe-file.ts: O_EXCL|O_NOFOLLOW temporary,
 * fsync, rename). Without `overwrite`, an existing file is refused (ERR_KEY_EXISTS).
 */
export function writeSecretFile(path: string, text: string, opts: { overwrite?: boolean; mode?: number } = {}): void {
  try {
    writeFileAtomic(path, text, { code: 'ERR_KEY_FILE', mode: opts.mode ?? 0o600, createOnly: !opts.overwrite, existsCode: 'ERR_KEY_EXISTS' });
  } catch (e) {
    if (isAppError(e) && e.code === 'ERR_KEY_EXISTS') throw new AppError('ERR_KEY_EXISTS', `${e.message} (use --force to replace the key)`, { cause: e });
    throw e;
  }
}

async function defaultComment(): Promise<string> {
  const { hostname, userInfo } = await import('./os-info.js');   // keygen only: node:os is not loaded for a knock
  let user = 'user';
  try { user = userInfo().username; } catch { /* no passwd entry */ }
  return `${user}@${hostname()}`;
}

/** A comment is one line of printable text without spaces in the public line (they become '_'). */
export function checkComment(c: string): string {
  if (c.length === 0 || c.length > 128 || /[\x00-\x1f\x7f]/.test(c)) {
    throw new AppError('ERR_USAGE', `--comment must be 1-128 printable characters (got '${c.slice(0, 40)}')`);
  }
  return c;
}

export interface KeygenOptions { key?: string; type?: 'ed25519' | 'hmac'; force?: boolean; comment?: string; out: (s: string) => void }

export async function keygen(o: KeygenOptions): Promise<number> {
  const path = o.key ?? defaultKeyPath(await homeDirectory());
  const type = o.type ?? 'ed25519';
  const dir = dirname(path);
  if (!existsSync(dir)) mkdirSync(dir, { recursive: true, mode: 0o700 });
  const comment = o.comment !== undefined ? checkComment(o.comment) : await defaultComment();
  const material = new Uint8Array(randomBytes(32));
  const key = type === 'ed25519' ? clientKeyFromSeed(material) : clientKeyFromSecret(material);
  writeSecretFile(path, formatClientKey(key, `${comment}${PRIVATE_MARK}`), { overwrite: !!o.force });
  o.out(`wrote private key ${path} (mode 0600, key id ${key.id})\n`);
  if (key.type === 'ed25519' && key.publicKey && key.mac1Key) {
    // key.pub can be shared like an SSH public key; key.enrol (with the v2 mac1 key) goes to the
    // server's administrator only: whoever holds it can spend this key's knock budget (PROTOCOL.md §5)
    const line = formatEnrolLine(key.publicKey, key.mac1Key, comment);
    writeSecretFile(`${path}.enrol`, `${line}\n`, { overwrite: !!o.force });
    writeFileSync(`${path}.pub`, `${formatSharedLine(key.publicKey, comment)}\n`, { mode: 0o644 });
    o.out(`wrote enrolment line ${path}.enrol (mode 0600) and shareable public line ${path}.pub\n`);
    o.out(`Give this line to the server's administrator only (knockd keys add NAME '<line>'); key.pub may be shared:\n${line}\n`);
  } else {
    o.out(`This is a shared secret: hand the file to the server's administrator over a secure channel;\n` +
      `they enrol it with 'knockd keys add NAME --hmac-key-file FILE'. (Usually the server creates hmac keys:\n` +
      `'knockd keys add NAME --hmac --out FILE'.)\n`);
  }
  return 0;
}

/**
 * `knock --pubkey [--key F] [--comment C]`: the line to give the server's administrator, on
 * stdout: the enrolment line of a v2 key (it carries the mac1 key: for the administrator only),
 * the public line of a v1 key.
 */
export function printPublic(o: { key: string; comment?: string; out: (s: string) => void }): number {
  const path = o.key;
  const { key, comment } = readClientKeyFile(path);
  if (key.type !== 'ed25519' || !key.publicKey) {
    throw new AppError('ERR_KEY_FILE', `'${path}' is an hmac key: a shared secret has no public half`);
  }
  const c = o.comment !== undefined ? checkComment(o.comment) : comment;
  o.out(`${key.mac1Key ? formatEnrolLine(key.publicKey, key.mac1Key, c) : formatPublicLine(key.publicKey, c)}\n`);
  return 0;
}
