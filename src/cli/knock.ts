/**
 * `knock` — drop-in for knock 0.8 (jvinet/knock), plus the knockd-ts SPA client options.
 *
 * Argument handling follows knock's getopt_long("vud:hV46") exactly: GNU permutation (options
 * anywhere among the positionals, `--` ends them), bundled short flags (`-vu4`, `-vd100`),
 * `-d 100` / `-d100` / `--delay 100` / `--delay=100`, unambiguous long-option prefixes
 * (`--del 5`), glibc's error messages, and options acting in the order they appear (`-V -h`
 * prints the version, `-h -V` the usage). Commander cannot reproduce the last three points, so
 * this file carries a small getopt_long of its own.
 *
 * The SPA paths (`--spa`, `--keygen`) load ./spa-client.js with a dynamic import; the classic
 * path loads nothing beyond node:net/dgram/dns.
 */
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { tcpHit, udpHit, resolve, ResolveError, type Family, type Resolved } from '../io/send.js';
import { exitCodeFor, isAppError } from '../core/errors.js';
import { parseIp } from '../core/ip.js';

export interface KnockDeps {
  tcpHit(addr: string, family: Family, port: number): Promise<void>;
  udpHit(addr: string, family: Family, port: number): Promise<void>;
  resolve(host: string, family: Family | undefined, service: string): Promise<Resolved>;
  sleep(ms: number): Promise<void>;
}

export interface KnockIo {
  /** receives complete text, newlines included */
  out: (s: string) => void;
  err: (s: string) => void;
  /** program name for getopt messages (knock uses argv[0]) */
  prog?: string;
  deps?: Partial<KnockDeps>;
}

export const USAGE =
  'usage: knock [options] <host> <port[:proto]> [port[:proto]] ...\n' +
  'options:\n' +
  '  -u, --udp            make all ports hits use UDP (default is TCP)\n' +
  '  -d, --delay <t>      wait <t> milliseconds between port hits\n' +
  '  -4, --ipv4           Force usage of IPv4\n' +
  '  -6, --ipv6           Force usage of IPv6\n' +
  '  -v, --verbose        be verbose\n' +
  '  -V, --version        display version\n' +
  '  -h, --help           this help\n' +
  '\n' +
  'example:  knock myserver.example.com 123:tcp 456:udp 789:tcp\n' +
  '\n';

/** Printed after USAGE for an explicit -h/--help only, so error output stays byte-identical to knock 0.8. */
export const SPA_USAGE =
  'signed single-packet authorization (knockd-ts):\n' +
  '  knock --spa --key <file> [--door <name>] [--ttl <s>] [--allow-ip <ip> | --nat] [--spa-port <n>] [-4|-6] [-v] <host>\n' +
  '  knock --keygen [--key <file>] [--type ed25519|hmac] [--force]\n' +
  '\n';

// ---------------------------------------------------------------------------------------------
// getopt_long

type ArgKind = 'none' | 'required';
interface LongOpt { name: string; arg: ArgKind; key: string }

const SHORT: Record<string, ArgKind> = { v: 'none', u: 'none', d: 'required', h: 'none', V: 'none', '4': 'none', '6': 'none' };

/** knock 0.8's long options; abbreviations are resolved against these first (compatibility). */
const CLASSIC_LONG: LongOpt[] = [
  { name: 'verbose', arg: 'none', key: 'v' },
  { name: 'udp', arg: 'none', key: 'u' },
  { name: 'delay', arg: 'required', key: 'd' },
  { name: 'help', arg: 'none', key: 'h' },
  { name: 'version', arg: 'none', key: 'V' },
  { name: 'ipv4', arg: 'none', key: '4' },
  { name: 'ipv6', arg: 'none', key: '6' },
];
const SPA_LONG: LongOpt[] = [
  { name: 'spa', arg: 'none', key: 'spa' },
  { name: 'keygen', arg: 'none', key: 'keygen' },
  { name: 'key', arg: 'required', key: 'key' },
  { name: 'type', arg: 'required', key: 'type' },
  { name: 'force', arg: 'none', key: 'force' },
  { name: 'door', arg: 'required', key: 'door' },
  { name: 'ttl', arg: 'required', key: 'ttl' },
  { name: 'allow-ip', arg: 'required', key: 'allow-ip' },
  { name: 'spa-port', arg: 'required', key: 'spa-port' },
  { name: 'nat', arg: 'none', key: 'nat' },
];

export type OptEvent =
  | { kind: 'opt'; key: string; value?: string; spelled: string }
  | { kind: 'error'; message: string };

function findLong(name: string): LongOpt | { ambiguous: LongOpt[] } | undefined {
  for (const set of [CLASSIC_LONG, SPA_LONG]) {
    const exact = set.find((o) => o.name === name);
    if (exact) return exact;
  }
  for (const set of [CLASSIC_LONG, SPA_LONG]) {
    const pre = set.filter((o) => o.name.startsWith(name));
    if (pre.length === 1) return pre[0];
    if (pre.length > 1) return { ambiguous: pre };
  }
  return undefined;
}

/**
 * GNU getopt_long with permutation. Yields option events in command-line order; positionals are
 * collected into `positionals` as they are passed. Stops after the first error (as knock exits).
 */
export function* getopt(argv: string[], prog: string, positionals: string[]): Generator<OptEvent> {
  let i = 0;
  while (i < argv.length) {
    const a = argv[i++] as string;
    if (a === '--') { positionals.push(...argv.slice(i)); return; }
    if (a.startsWith('--')) {
      const eq = a.indexOf('=');
      const name = eq < 0 ? a.slice(2) : a.slice(2, eq);
      const found = findLong(name);
      if (!found) { yield { kind: 'error', message: `${prog}: unrecognized option '${eq < 0 ? a : a.slice(0, eq)}'\n` }; return; }
      if ('ambiguous' in found) {
        yield { kind: 'error', message: `${prog}: option '--${name}' is ambiguous; possibilities:${found.ambiguous.map((o) => ` '--${o.name}'`).join('')}\n` };
        return;
      }
      if (found.arg === 'none') {
        if (eq >= 0) { yield { kind: 'error', message: `${prog}: option '--${found.name}' doesn't allow an argument\n` }; return; }
        yield { kind: 'opt', key: found.key, spelled: `--${found.name}` };
      } else if (eq >= 0) {
        yield { kind: 'opt', key: found.key, value: a.slice(eq + 1), spelled: `--${found.name}` };
      } else if (i < argv.length) {
        yield { kind: 'opt', key: found.key, value: argv[i++] as string, spelled: `--${found.name}` };
      } else {
        yield { kind: 'error', message: `${prog}: option '--${found.name}' requires an argument\n` }; return;
      }
      continue;
    }
    if (a.startsWith('-') && a.length > 1) {
      for (let j = 1; j < a.length; j++) {
        const c = a[j] as string;
        const kind = SHORT[c];
        if (kind === undefined) { yield { kind: 'error', message: `${prog}: invalid option -- '${c}'\n` }; return; }
        if (kind === 'none') { yield { kind: 'opt', key: c, spelled: `-${c}` }; continue; }
        if (j + 1 < a.length) { yield { kind: 'opt', key: c, value: a.slice(j + 1), spelled: `-${c}` }; break; }
        if (i < argv.length) { yield { kind: 'opt', key: c, value: argv[i++] as string, spelled: `-${c}` }; break; }
        yield { kind: 'error', message: `${prog}: option requires an argument -- '${c}'\n` }; return;
      }
      continue;
    }
    positionals.push(a);
  }
}

/** C atoi() as glibc does it: (int) strtol(s, NULL, 10). */
export function cAtoi(s: string): number {
  const m = /^[ \t\n\v\f\r]*([+-]?)(\d+)/.exec(s);
  if (!m) return 0;
  const LONG_MAX = (1n << 63n) - 1n;
  let v = BigInt(m[2] as string);
  if (m[1] === '-') { v = -v; if (v < -LONG_MAX - 1n) v = -LONG_MAX - 1n; } else if (v > LONG_MAX) v = LONG_MAX;
  return Number(BigInt.asIntN(32, v));
}

/** knock sleeps usleep(1000 * delay) in int arithmetic: the product wraps to 32 bits, unsigned. */
export function delayToMs(delay: number): number {
  const usec = Number(BigInt.asUintN(32, BigInt(delay) * 1000n));
  return usec / 1000;
}

function versionText(): string {
  let version = '0.1.0';
  try {
    let dir = dirname(fileURLToPath(import.meta.url));
    for (let k = 0; k < 6; k++) {
      try {
        const pkg = JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')) as { name?: unknown; version?: unknown };
        if (pkg.name === 'knockd-ts' && typeof pkg.version === 'string') { version = pkg.version; break; }
      } catch { /* keep looking */ }
      dir = dirname(dir);
    }
  } catch { /* default */ }
  return `knock (knockd-ts) ${version}\n` +
    'compatible with knock 0.8, Copyright (C) 2004-2012 Judd Vinet <jvinet@zeroflux.org>\n';
}

// ---------------------------------------------------------------------------------------------
// main

interface SpaOpts { key?: string; type?: string; force: boolean; door?: string; ttl?: string; allowIp?: string; spaPort?: string; nat?: boolean }

/** Parsed port argument: knock splits at the first ':' and only exact lowercase "udp" is UDP. */
export function parsePortArg(arg: string, forceUdp: boolean): { service: string; proto: 'tcp' | 'udp' } {
  const c = arg.indexOf(':');
  const service = c < 0 ? arg : arg.slice(0, c);
  const udp = forceUdp || (c >= 0 && arg.slice(c + 1) === 'udp');
  return { service, proto: udp ? 'udp' : 'tcp' };
}

export async function knockMain(argv: string[], io: KnockIo): Promise<number> {
  const prog = io.prog ?? 'knock';
  const deps: KnockDeps = {
    tcpHit, udpHit, resolve,
    sleep: (ms) => new Promise<void>((r) => setTimeout(r, ms)),
    ...io.deps,
  };
  const positionals: string[] = [];
  let verbose = false, udp = false, family: Family | undefined, delayText: string | undefined;
  let mode: 'classic' | 'spa' | 'keygen' = 'classic';
  const spa: SpaOpts = { force: false };
  const spaOnly: string[] = [];
  const classicOnly: string[] = [];

  for (const ev of getopt(argv, prog, positionals)) {
    if (ev.kind === 'error') { io.err(ev.message); io.out(USAGE); return 1; }
    switch (ev.key) {
      case 'v': verbose = true; break;
      case 'u': udp = true; classicOnly.push(ev.spelled); break;
      case 'd': delayText = ev.value ?? ''; classicOnly.push(ev.spelled); break;
      case '4': family = 4; break;
      case '6': family = 6; break;
      case 'h': io.out(USAGE + SPA_USAGE); return 1;
      case 'V': io.out(versionText()); return 0;
      case 'spa':
      case 'keygen':
        if (mode !== 'classic' && mode !== ev.key) return usageError(io, prog, '--spa and --keygen exclude each other');
        mode = ev.key === 'spa' ? 'spa' : 'keygen'; break;
      case 'force': spa.force = true; spaOnly.push(ev.spelled); break;
      case 'key': spa.key = ev.value; break;
      case 'type': spa.type = ev.value; spaOnly.push(ev.spelled); break;
      case 'door': spa.door = ev.value; spaOnly.push(ev.spelled); break;
      case 'ttl': spa.ttl = ev.value; spaOnly.push(ev.spelled); break;
      case 'allow-ip': spa.allowIp = ev.value; spaOnly.push(ev.spelled); break;
      case 'spa-port': spa.spaPort = ev.value; spaOnly.push(ev.spelled); break;
      case 'nat': spa.nat = true; spaOnly.push(ev.spelled); break;
    }
  }

  if (mode === 'keygen') return keygen(spa, positionals, classicOnly, verbose, family, io, prog);
  if (mode === 'spa') return spaKnock(spa, positionals, classicOnly, verbose, family, io, prog);
  if (spa.key !== undefined || spaOnly.length > 0) {
    return usageError(io, prog, `option '${spaOnly[0] ?? '--key'}' needs --spa or --keygen`);
  }

  // ---- classic knock 0.8
  if (positionals.length < 2) { io.out(USAGE); return 1; }
  const delay = delayText === undefined ? 0 : cAtoi(delayText);
  if (delay < 0) { io.err('error: delay cannot be negative\n'); return 1; }
  const sleepMs = delayToMs(delay);
  const host = positionals[0] as string;

  for (const arg of positionals.slice(1)) {
    const { service, proto } = parsePortArg(arg, udp);
    let r: Resolved;
    try {
      r = await deps.resolve(host, family, service);
    } catch (e) {
      if (e instanceof ResolveError) {
        io.err(`${e.message}\ngetaddrinfo: ${e.detail}\n`);
      } else {
        io.err(`Failed to resolve hostname '${host}' on port ${service}\ngetaddrinfo: ${String((e as Error)?.message ?? e)}\n`);
      }
      return 1;
    }
    if (verbose) io.out(`hitting ${proto} ${r.address}:${service}\n`);
    if (proto === 'udp') await deps.udpHit(r.address, r.family, r.port);
    else await deps.tcpHit(r.address, r.family, r.port);
    if (sleepMs > 0) await deps.sleep(sleepMs);
  }
  return 0;
}

function usageError(io: KnockIo, prog: string, msg: string): number {
  io.err(`${prog}: ${msg}\n`);
  return exitCodeFor('ERR_USAGE');
}

// ---- SPA routes (dynamic import so the classic path never loads crypto) ----------------------

type SpaClientModule = typeof import('./spa-client.js');

async function loadSpaClient(): Promise<SpaClientModule> {
  return import('./spa-client.js');
}

async function guardedSpa(io: KnockIo, fn: () => Promise<number>): Promise<number> {
  try {
    return await fn();
  } catch (e) {
    if (isAppError(e)) { io.err(`knock: ${e.message} [${e.code}]\n`); return exitCodeFor(e.code); }
    throw e;
  }
}

async function keygen(spa: SpaOpts, positionals: string[], classicOnly: string[], verbose: boolean, family: Family | undefined,
  io: KnockIo, prog: string): Promise<number> {
  if (positionals.length > 0) return usageError(io, prog, `--keygen takes no host or ports (got '${positionals[0]}')`);
  const bad = [...classicOnly, ...(verbose ? ['-v'] : []), ...(family ? [`-${family}`] : []),
    ...(spa.door !== undefined ? ['--door'] : []), ...(spa.ttl !== undefined ? ['--ttl'] : []),
    ...(spa.allowIp !== undefined ? ['--allow-ip'] : []), ...(spa.spaPort !== undefined ? ['--spa-port'] : []),
    ...(spa.nat ? ['--nat'] : [])];
  if (bad.length > 0) return usageError(io, prog, `option '${bad[0]}' does not apply to --keygen`);
  if (spa.type !== undefined && spa.type !== 'ed25519' && spa.type !== 'hmac') {
    return usageError(io, prog, `--type must be ed25519 or hmac (got '${spa.type}')`);
  }
  const o: Parameters<SpaClientModule['keygenMain']>[0] = { out: io.out, err: io.err, force: spa.force };
  if (spa.key !== undefined) o.key = spa.key;
  if (spa.type !== undefined) o.type = spa.type as 'ed25519' | 'hmac';
  return guardedSpa(io, async () => (await loadSpaClient()).keygenMain(o));
}

async function spaKnock(spa: SpaOpts, positionals: string[], classicOnly: string[], verbose: boolean, family: Family | undefined,
  io: KnockIo, prog: string): Promise<number> {
  if (classicOnly.length > 0) return usageError(io, prog, `option '${classicOnly[0]}' does not apply to --spa`);
  if (spa.force || spa.type !== undefined) return usageError(io, prog, `option '${spa.force ? '--force' : '--type'}' only applies to --keygen`);
  if (spa.key === undefined || spa.key === '') return usageError(io, prog, '--spa needs --key <file>');
  if (positionals.length !== 1) {
    return usageError(io, prog, positionals.length === 0 ? '--spa needs a <host>' : `--spa takes one <host> and no ports (extra '${positionals[1]}')`);
  }
  const o: Parameters<SpaClientModule['spaMain']>[0] = { key: spa.key, host: positionals[0] as string, verbose, out: io.out, err: io.err };
  if (family !== undefined) o.family = family;
  if (spa.door !== undefined) {
    if (spa.door === '') return usageError(io, prog, '--door needs a door name');
    o.door = spa.door;
  }
  if (spa.ttl !== undefined) {
    if (!/^\d{1,9}$/.test(spa.ttl) || Number(spa.ttl) < 1) return usageError(io, prog, `--ttl must be a whole number of seconds >= 1 (got '${spa.ttl}')`);
    o.ttl = Number(spa.ttl);
  }
  if (spa.nat) {
    if (spa.allowIp !== undefined) return usageError(io, prog, '--nat asks the server to open the address the knock comes from; it excludes --allow-ip');
    o.nat = true;
  }
  if (spa.allowIp !== undefined) {
    const ip = parseIp(spa.allowIp);
    if (!ip) return usageError(io, prog, `--allow-ip must be a numeric IPv4 or IPv6 address (got '${spa.allowIp}')`);
    o.allowIp = ip.text;
  }
  if (spa.spaPort !== undefined) {
    if (!/^\d{1,5}$/.test(spa.spaPort) || Number(spa.spaPort) < 1 || Number(spa.spaPort) > 65535) {
      return usageError(io, prog, `--spa-port must be 1-65535 (got '${spa.spaPort}')`);
    }
    o.spaPort = Number(spa.spaPort);
  }
  return guardedSpa(io, async () => (await loadSpaClient()).spaMain(o));
}

// ---- entry point (bin/knock) -----------------------------------------------------------------

export async function run(): Promise<void> {
  const code = await knockMain(process.argv.slice(2), {
    out: (s) => { process.stdout.write(s); },
    err: (s) => { process.stderr.write(s); },
    prog: 'knock',
  });
  process.exitCode = code;
}
