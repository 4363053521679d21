/**
 * `knock` — drop-in for knock 0.8 (jvinet/knock), plus the knockd-ts SPA client options.
 *
 * Argument handling follows knock's getopt_long("vud:hV46") exactly: GNU permutation (options
 * anywhere among the positionals, `--` ends them), bundled short flags (`-vu4`, `-vd100`),
 * `-d 100` / `-d100` / `--delay 100` / `--delay=100`, unambiguous long-option prefixes
 * (`--del 5`), glibc's error messages, and options acting in the order they appear (`-V -h`
 * prints the version, `-h -V` the usage). Commander cannot reproduce the last three points, so
 * this file carries a small getopt_long of its own. One extension to knock 0.8's options:
 * `-r N` / `--repeat N` sends every hit N times (REPEAT_USAGE).
 *
 * The SPA paths (`--spa`, `--keygen`, `--pubkey`, `-W`, `--wait`, `knock PROFILE`) load
 * ./spa-client.js with a dynamic import; the classic path loads nothing beyond node:net/dgram/dns.
 */
import { tcpHit, udpHit, resolve, ResolveError, type Family, type Resolved } from '../io/send.js';
import { exitCodeFor, isAppError } from '../core/errors.js';
import type { ClientArgs } from '../client/args.js';
import { homeDirectory } from '../client/home.js';
import { REPEAT_USAGE, SPA_USAGE, USAGE, versionText } from './knock-text.js';

export { REPEAT_USAGE, SPA_USAGE, USAGE } from './knock-text.js';

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
  /** home directory for ~/.knock (tests); default client/home.ts homeDirectory() */
  home?: string;
  deps?: Partial<KnockDeps>;
}

// ---------------------------------------------------------------------------------------------
// getopt_long

type ArgKind = 'none' | 'required';
interface LongOpt { name: string; arg: ArgKind; key: string }

const SHORT: Record<string, ArgKind> = { v: 'none', u: 'none', d: 'required', h: 'none', V: 'none', '4': 'none', '6': 'none',
  W: 'required' /* knockd-ts: ProxyCommand mode, named after ssh -W */, r: 'required' /* knockd-ts: repeat hits */ };

/** knock 0.8's long options; abbreviations are resolved against these first (compatibility). */
const CLASSIC_LONG: LongOpt[] = [
  { name: 'verbose', arg: 'none', key: 'v' },
  { name: 'udp', arg: 'none', key: 'u' },
  { name: 'delay', arg: 'required', key: 'd' },
  { name: 'help', arg: 'none', key: 'h' },
  { name: 'version', arg: 'none', key: 'V' },
  { name: 'ipv4', arg: 'none', key: '4' },
  { name: 'ipv6', arg: 'none', key: '6' },
  { name: 'repeat', arg: 'required', key: 'r' },   // knockd-ts extension
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
  { name: 'comment', arg: 'required', key: 'comment' },
  { name: 'pubkey', arg: 'none', key: 'pubkey' },
  { name: 'dry-run', arg: 'none', key: 'dry-run' },
  { name: 'nat', arg: 'none', key: 'nat' },
  { name: 'stun', arg: 'required', key: 'stun' },
  { name: 'wait', arg: 'required', key: 'wait' },
  { name: 'timeout', arg: 'required', key: 'timeout' },
  { name: 'config', arg: 'required', key: 'config' },
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

// ---------------------------------------------------------------------------------------------
// main

/** Parsed port argument: knock splits at the first ':' and only exact lowercase "udp" is UDP. */
export function parsePortArg(arg: string, forceUdp: boolean): { service: string; proto: 'tcp' | 'udp' } {
  const c = arg.indexOf(':');
  const service = c < 0 ? arg : arg.slice(0, c);
  const udp = forceUdp || (c >= 0 && arg.slice(c + 1) === 'udp');
  return { service, proto: udp ? 'udp' : 'tcp' };
}

type Mode = 'classic' | 'spa' | 'keygen' | 'pubkey';
/** knockd-ts options that take a value, and the ClientArgs field each one fills. */
const SPA_VALUE: Record<string, keyof SpaArgs> = {
  key: 'key', type: 'type', door: 'door', ttl: 'ttl', 'allow-ip': 'allowIp', 'spa-port': 'spaPort', comment: 'comment',
  stun: 'stun', wait: 'wait', timeout: 'timeout', config: 'config', W: 'proxy',
};
type SpaArgs = Omit<ClientArgs, 'mode' | 'positionals' | 'classicOnly' | 'verbose' | 'family'>;

export async function knockMain(argv: string[], io: KnockIo): Promise<number> {
  const prog = io.prog ?? 'knock';
  const deps: KnockDeps = {
    tcpHit, udpHit, resolve,
    sleep: (ms) => new Promise<void>((r) => setTimeout(r, ms)),
    ...io.deps,
  };
  const positionals: string[] = [];
  let verbose = false, udp = false, family: Family | undefined, delayText: string | undefined, repeatText: string | undefined;
  let mode: Mode = 'classic';
  const spa: SpaArgs = {};
  const spaOnly: string[] = [];
  const classicOnly: string[] = [];

  for (const ev of getopt(argv, prog, positionals)) {
    if (ev.kind === 'error') { io.err(ev.message); io.out(USAGE); return 1; }
    switch (ev.key) {
      case 'v': verbose = true; break;
      case 'u': udp = true; classicOnly.push(ev.spelled); break;
      case 'd': delayText = ev.value ?? ''; classicOnly.push(ev.spelled); break;
      case 'r': repeatText = ev.value ?? ''; classicOnly.push(ev.spelled); break;
      case '4': family = 4; break;
      case '6': family = 6; break;
      case 'h': io.out(USAGE + REPEAT_USAGE + SPA_USAGE); return 1;
      case 'V': io.out(versionText()); return 0;
      case 'spa': case 'keygen': case 'pubkey':
        if (mode !== 'classic' && mode !== ev.key) return usageError(io, prog, `--${mode} and ${ev.spelled} exclude each other`);
        mode = ev.key; break;
      case 'force': spa.force = true; spaOnly.push(ev.spelled); break;
      case 'dry-run': spa.dryRun = true; spaOnly.push(ev.spelled); break;
      case 'nat': spa.nat = true; spaOnly.push(ev.spelled); break;
      default: {
        const field = SPA_VALUE[ev.key];
        if (field) { (spa as Record<string, unknown>)[field] = ev.value; if (ev.key !== 'key') spaOnly.push(ev.spelled); }
      }
    }
  }
  // -W, --wait and --dry-run only exist for SPA; `knock NAME` with a profile NAME is an SPA knock.
  if (mode === 'classic' && (spa.proxy !== undefined || spa.wait !== undefined || spa.dryRun)) mode = 'spa';
  if (mode === 'classic' && positionals.length === 1 && classicOnly.length === 0) {
    try {
      if ((await import('../client/args.js')).isProfileName(positionals[0] as string, spa.config, io.home ?? await homeDirectory())) mode = 'spa';
    } catch (e) {
      if (!isAppError(e)) throw e;
      io.err(`knock: ${e.message} [${e.code}]\n`);
      return exitCodeFor(e.code);
    }
  }
  if (mode !== 'classic') {
    const a: ClientArgs = { mode, positionals, classicOnly, verbose, ...spa, ...(family !== undefined ? { family } : {}) };
    const { clientMain } = await import('./spa-client.js');
    return clientMain(a, { out: io.out, err: io.err, ...(io.home !== undefined ? { home: io.home } : {}) });
  }
  if (spa.key !== undefined || spaOnly.length > 0) {
    return usageError(io, prog, `option '${spaOnly[0] ?? '--key'}' needs --spa or --keygen`);
  }

  // ---- classic knock 0.8
  if (positionals.length < 2) { io.out(USAGE); return 1; }
  const delay = delayText === undefined ? 0 : cAtoi(delayText);
  if (delay < 0) { io.err('error: delay cannot be negative\n'); return 1; }
  const sleepMs = delayToMs(delay);
  if (repeatText !== undefined && (!/^\d{1,3}$/.test(repeatText) || Number(repeatText) < 1 || Number(repeatText) > 100)) {
    return usageError(io, prog, `--repeat must be a whole number from 1 to 100 (got '${repeatText}')`);
  }
  const copies = repeatText === undefined ? 1 : Number(repeatText);
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
    for (let k = 0; k < copies; k++) {   // copies spaced like hits: a burst would share one loss window
      if (proto === 'udp') await deps.udpHit(r.address, r.family, r.port);
      else await deps.tcpHit(r.address, r.family, r.port);
      if (sleepMs > 0) await deps.sleep(sleepMs);
    }
  }
  return 0;
}

function usageError(io: KnockIo, prog: string, msg: string): number {
  io.err(`${prog}: ${msg}\n`);
  return exitCodeFor('ERR_USAGE');
}

// ---- entry point (bin/knock) -----------------------------------------------------------------

/**
 * Runs knock with process.argv and sets process.exitCode. Resolves to true when all that knock
 * wrote has left the process (stdout and stderr are written synchronously on Linux, to pipes
 * too, but not everywhere), so that bin/knock may exit at once.
 */
export async function run(): Promise<boolean> {
  let out = false, err = false;
  const code = await knockMain(process.argv.slice(2), {
    out: (s) => { out = true; process.stdout.write(s); },
    err: (s) => { err = true; process.stderr.write(s); },
    prog: 'knock',
  });
  process.exitCode = code;
  return (!out || process.stdout.writableLength === 0) && (!err || process.stderr.writableLength === 0);
}
