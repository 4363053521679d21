/**
 * Client side of SPA: `knock --keygen` and `knock --spa` (PROTOCOL.md). Loaded by
 * src/cli/knock.ts with a dynamic import; imports nothing from the daemon or capture code.
 * Operator errors are thrown as AppError (the caller maps them to exit codes); `out`
 * receives complete lines.
 */
import { randomBytes } from 'node:crypto';
import { lookup } from 'node:dns/promises';
import { createSocket, type Socket } from 'node:dgram';
import { closeSync, existsSync, fsyncSync, linkSync, mkdirSync, openSync, readFileSync, renameSync, statSync, unlinkSync, writeFileSync, writeSync } from 'node:fs';
import { homedir, hostname, userInfo } from 'node:os';
import { dirname, join } from 'node:path';
import { DEFAULT_SPA_PORT } from '../core/config/types.js';
import { AppError, exitCodeFor } from '../core/errors.js';
import { parseIp, type Ip } from '../core/ip.js';
import { clientKeyFromSecret, clientKeyFromSeed, formatClientKey, formatEnrolLine, formatSharedLine, parseClientKey, type ClientKey } from '../core/keys/client.js';
import { signerFor } from '../core/spa/sign.js';
import { DOOR_NAME_RE, encodeRequest, MAX_DOOR_LEN } from '../core/spa/wire.js';

export const defaultKeyPath = (): string => join(homedir(), '.knock', 'key');

/** Read a client key file, refusing group/other access like ssh does. */
export function loadClientKeyFile(path: string): ClientKey {
  let st;
  try { st = statSync(path); } catch (e) {
    throw new AppError('ERR_KEY_FILE', `cannot read key file '${path}': ${(e as NodeJS.ErrnoException).code ?? 'error'}`, { cause: e });
  }
  if (!st.isFile()) throw new AppError('ERR_KEY_FILE', `'${path}' is not a regular file`);
  if ((st.mode & 0o077) !== 0) {
    throw new AppError('ERR_KEY_FILE', `permissions 0${(st.mode & 0o777).toString(8)} for '${path}' are too open; run 'chmod 600 ${path}'`);
  }
  if (st.size > 4096) throw new AppError('ERR_KEY_FILE', `'${path}' is too large to be a key file`);
  return parseClientKey(readFileSync(path, 'utf8'), path);
}

/**
 * Write `text` to `path` with `mode` atomically. Without `overwrite`, an existing file is
 * refused (ERR_KEY_EXISTS) — link(2) of a fully written temporary file fails with EEXIST.
 */
export function writeSecretFile(path: string, text: string, opts: { overwrite?: boolean; mode?: number } = {}): void {
  const mode = opts.mode ?? 0o600;
  const tmp = join(dirname(path), `.${process.pid}.${randomBytes(4).toString('hex')}.tmp`);
  const fd = openSync(tmp, 'wx', mode);
  try { writeSync(fd, text); fsyncSync(fd); } finally { closeSync(fd); }
  try {
    if (opts.overwrite) renameSync(tmp, path);
    else {
      try { linkSync(tmp, path); } catch (e) {
        if ((e as NodeJS.ErrnoException).code === 'EEXIST') throw new AppError('ERR_KEY_EXISTS', `'${path}' already exists; refusing to overwrite it (use --force to replace the key)`);
        throw e;
      }
    }
  } finally {
    if (existsSync(tmp)) unlinkSync(tmp);
  }
}

function defaultComment(): string {
  let user = 'user';
  try { user = userInfo().username; } catch { /* no passwd entry */ }
  return `${user}@${hostname()}`;
}

/**
 * Run `f`; with an `err` sink, an AppError becomes a message there and its exit code,
 * without one it is rethrown for the caller to map.
 */
async function guarded(err: ((s: string) => void) | undefined, f: () => Promise<number>): Promise<number> {
  try { return await f(); } catch (e) {
    if (err && e instanceof AppError) { err(`knock: ${e.message} [${e.code}]\n`); return exitCodeFor(e.code); }
    throw e;
  }
}

export async function keygenMain(o: { key?: string; type?: 'ed25519' | 'hmac'; force?: boolean; out: (s: string) => void; err?: (s: string) => void }): Promise<number> {
  return guarded(o.err, () => keygen(o));
}

async function keygen(o: { key?: string; type?: 'ed25519' | 'hmac'; force?: boolean; out: (s: string) => void }): Promise<number> {
  const path = o.key ?? defaultKeyPath();
  const type = o.type ?? 'ed25519';
  const dir = dirname(path);
  if (!existsSync(dir)) mkdirSync(dir, { recursive: true, mode: 0o700 });
  const comment = defaultComment();
  const material = new Uint8Array(randomBytes(32));
  const key = type === 'ed25519' ? clientKeyFromSeed(material) : clientKeyFromSecret(material);
  writeSecretFile(path, formatClientKey(key, `${comment} — PRIVATE, keep this file secret`), { overwrite: !!o.force });
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

function closeSocket(s: Socket): Promise<void> {
  return new Promise((resolve) => { try { s.close(() => resolve()); } catch { resolve(); } });
}

export interface SpaOptions {
  key: string; host: string; door?: string; ttl?: number; allowIp?: string; spaPort?: number;
  /** Ask the server to open the address the packet arrives from (v2 keys; the key needs --nat on the server). */
  nat?: boolean;
  family?: 4 | 6; verbose?: boolean; out: (s: string) => void; err?: (s: string) => void;
  /** Tests: fixed clock and nonce source. */
  now?: () => number; random?: (n: number) => Uint8Array;
}

export async function spaMain(o: SpaOptions): Promise<number> {
  return guarded(o.err, () => spa(o));
}

async function spa(o: SpaOptions): Promise<number> {
  const key = loadClientKeyFile(o.key);
  if (o.nat && key.spaVersion !== 2) {
    throw new AppError('ERR_USAGE', `--nat needs a v2 key ('${o.key}' is a 'knockd-ts-key v1' file); make one with 'knock --keygen' and have it enrolled with --nat`);
  }
  const door = o.door ?? '';
  if (door.length > MAX_DOOR_LEN || !DOOR_NAME_RE.test(door)) throw new AppError('ERR_USAGE', `--door '${door}' must match [A-Za-z0-9_.-]{1,32}`);
  const ttl = o.ttl ?? 0;
  if (!Number.isInteger(ttl) || ttl < 0 || ttl > 0xffffffff) throw new AppError('ERR_USAGE', `--ttl must be whole seconds (got ${ttl})`);
  const port = o.spaPort ?? DEFAULT_SPA_PORT;
  let addr: { address: string; family: number };
  try {
    addr = await lookup(o.host, { family: o.family ?? 0, verbatim: true });
  } catch (e) {
    throw new AppError('ERR_RESOLVE', `cannot resolve '${o.host}'${o.family ? ` as IPv${o.family}` : ''}: ${(e as NodeJS.ErrnoException).code ?? 'error'}`, { cause: e });
  }
  const serverIp = parseIp(addr.address.replace(/%.*$/, ''));
  if (!serverIp) throw new AppError('ERR_RESOLVE', `'${o.host}' resolved to an unusable address '${addr.address}'`);
  const sock = createSocket(addr.family === 6 ? 'udp6' : 'udp4');
  try {
    await new Promise<void>((resolve, reject) => {
      sock.once('error', reject);
      sock.connect(port, addr.address, () => { sock.off('error', reject); resolve(); });
    });
    let allowIp: Ip | undefined;
    if (o.allowIp !== undefined) {
      allowIp = parseIp(o.allowIp);
      if (!allowIp) throw new AppError('ERR_USAGE', `--allow-ip must be a numeric IPv4 or IPv6 address (got '${o.allowIp}')`);
    } else {
      const local = sock.address().address.replace(/%.*$/, '');
      allowIp = parseIp(local);
      if (!allowIp) throw new AppError('ERR_USAGE', `cannot use the local address '${local}'; pass --allow-ip`);
    }
    const now = (o.now ?? Date.now)();
    const nonce = (o.random ?? ((n: number) => new Uint8Array(randomBytes(n))))(16);
    const packet = encodeRequest({ timestampMs: now, nonce, ttl, allowIp, serverIp, door, version: key.spaVersion, nat: !!o.nat }, signerFor(key));
    await new Promise<void>((resolve, reject) => { sock.send(packet, (err) => (err ? reject(err) : resolve())); });
    if (o.verbose) {
      o.out(`SPA knock sent to ${serverIp.family === 6 ? `[${serverIp.text}]` : serverIp.text}:${port}/udp (${packet.length} bytes)\n` +
        `  key ${key.type} ${key.id}${key.name ? ` (${key.name})` : ''}\n` +
        `  door ${door === '' ? '(default)' : door}, ttl ${ttl === 0 ? '(door default)' : `${ttl}s`}\n` +
        (o.nat ? `  open for the address the server sees (--nat; local address ${allowIp.text})\n`
          : `  open for ${allowIp.text}${o.allowIp === undefined ? ' (local source address; behind NAT pass --allow-ip PUBLIC-IP or --nat)' : ''}\n`) +
        `  request v${key.spaVersion}\n` +
        `  timestamp ${new Date(now).toISOString()}\n`);
    }
    return 0;
  } catch (e) {
    if (e instanceof AppError) throw e;
    throw new AppError('ERR_INTERNAL', `sending the SPA datagram to ${addr.address}:${port} failed: ${(e as Error).message}`, { cause: e });
  } finally {
    await closeSocket(sock);
  }
}
