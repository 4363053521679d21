/**
 * From what `knock` was given (flags, positionals) plus the matching `~/.knock/config` profile
 * to one validated request. Precedence: command line, then the profile, then its [default]
 * section, then built-in defaults (`~/.knock/key`, SPA port 62201, the door the key allows).
 * Errors are AppError('ERR_USAGE') with the option as it was spelled.
 */
import { DEFAULT_SPA_PORT } from '../core/config/types.js';
import { AppError } from '../core/errors.js';
import { findProfile, profileValue, type Profile } from '../core/profile.js';
import { parseStunList, type StunServer } from '../core/stun.js';
import { defaultConfigPath, expandPath, readProfileFile } from './config.js';
import { defaultKeyPath } from './keyfile.js';

/** Raw options as src/cli/knock.ts collected them (strings, as typed). */
export interface ClientArgs {
  mode: 'spa' | 'keygen' | 'pubkey';
  positionals: string[];
  /** classic-only options that were used (-u, -d), as spelled */
  classicOnly: string[];
  verbose: boolean;
  family?: 4 | 6;
  key?: string; type?: string; force?: boolean; comment?: string;
  door?: string; ttl?: string; allowIp?: string; spaPort?: string; stun?: string;
  dryRun?: boolean; proxy?: string; wait?: string; timeout?: string; config?: string;
  /** Ask the server to open the address the packet arrives from (v2 keys enrolled with --nat). */
  nat?: boolean;
}

export interface HostPort { host: string; port: number }

export interface SpaRequest {
  keyPath: string; host: string; family?: 4 | 6; spaPort: number; door: string; ttl: number;
  allowIp?: string; stun: readonly StunServer[]; verbose: boolean; dryRun: boolean;
  proxy?: HostPort; waitPort?: number; timeoutS: number; profile?: string; nat: boolean;
}

export const DEFAULT_TIMEOUT_S = 10;
const usage = (m: string): never => { throw new AppError('ERR_USAGE', m); };

/** `host:port` or `[v6]:port`; a bare IPv6 (ssh's `%h:%p` with an IPv6 HostName) splits at the last ':'. */
export function parseHostPort(s: string, what: string): HostPort {
  const br = /^\[([^\]]+)\]:(\d{1,5})$/.exec(s);
  const c = s.lastIndexOf(':');
  const host = br ? br[1] as string : s.slice(0, c);
  const port = br ? br[2] as string : s.slice(c + 1);
  if ((!br && c <= 0) || !/^[A-Za-z0-9._:-]{1,253}$/.test(host) || !/^\d{1,5}$/.test(port) || Number(port) < 1 || Number(port) > 65535) {
    return usage(`${what} needs host:port (got '${s}')`);
  }
  return { host, port: Number(port) };
}

function checkNotFor(a: ClientArgs, mode: string, names: (keyof ClientArgs)[]): void {
  for (const n of names) {
    const v = a[n];
    if (v !== undefined && v !== false) usage(`option '--${n === 'proxy' ? 'W' : n.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)}' does not apply to ${mode}`);
  }
}

export function keyModeChecks(a: ClientArgs): void {
  const mode = a.mode === 'keygen' ? '--keygen' : '--pubkey';
  if (a.positionals.length > 0) usage(`${mode} takes no host or ports (got '${a.positionals[0]}')`);
  const bad = [...a.classicOnly, ...(a.verbose ? ['-v'] : []), ...(a.family ? [`-${a.family}`] : [])];
  if (bad.length > 0) usage(`option '${bad[0]}' does not apply to ${mode}`);
  checkNotFor(a, mode, ['door', 'ttl', 'allowIp', 'spaPort', 'stun', 'dryRun', 'proxy', 'wait', 'timeout', 'config', 'nat']);
  if (a.mode === 'pubkey') checkNotFor(a, mode, ['type', 'force']);
  if (a.type !== undefined && a.type !== 'ed25519' && a.type !== 'hmac') usage(`--type must be ed25519 or hmac (got '${a.type}')`);
}

/** Check one flag value with the profile's validator, so both report the same rule. */
function flag<T>(key: Parameters<typeof profileValue>[0], v: string | undefined, spelled: string): T | undefined {
  if (v === undefined) return undefined;
  const r = profileValue(key, v);
  if (typeof r === 'string') usage(`--${spelled} ${r.replace(/^[a-z-]+ /, '')}`);
  return (r as unknown as { value: T }).value;
}

/** `home`: the home directory (client/home.ts) for ~/.knock/config and ~/.knock/key. */
export function spaRequest(a: ClientArgs, home: string): SpaRequest {
  if (a.classicOnly.length > 0) usage(`option '${a.classicOnly[0]}' does not apply to --spa`);
  if (a.force || a.type !== undefined || a.comment !== undefined) {
    usage(`option '${a.force ? '--force' : a.type !== undefined ? '--type' : '--comment'}' only applies to --keygen`);
  }
  if (a.positionals.length > 1) usage(`--spa takes one <host> or profile and no ports (extra '${a.positionals[1]}')`);
  let proxy = a.proxy !== undefined ? parseHostPort(a.proxy, '-W') : undefined;
  if (a.positionals.length === 0 && !proxy) usage('--spa needs a <host> or a profile name');
  if (proxy && a.wait !== undefined) usage('-W and --wait exclude each other');
  if (a.dryRun && (proxy || a.wait !== undefined)) usage(`--dry-run does not apply to ${proxy ? '-W' : '--wait'}`);
  if (a.door === '') usage('--door needs a door name');
  const door = flag<string>('door', a.door, 'door');
  const ttl = flag<number>('ttl', a.ttl, 'ttl');
  const allowIp = flag<string>('allow-ip', a.allowIp, 'allow-ip');
  if (a.nat && allowIp !== undefined) usage('--nat asks the server to open the address the knock comes from; it excludes --allow-ip');
  const spaPort = flag<number>('spa-port', a.spaPort, 'spa-port');
  let stun: StunServer[] | undefined;
  if (a.stun !== undefined) stun = parseStunList(a.stun) ?? usage(`--stun must be a comma-separated list of host[:port] (got '${a.stun}')`);
  let waitPort: number | undefined;
  if (a.wait !== undefined) waitPort = flag<number>('spa-port', a.wait, 'wait') ?? 0;
  let timeoutS = DEFAULT_TIMEOUT_S;
  if (a.timeout !== undefined) {
    if (!/^\d{1,4}$/.test(a.timeout) || Number(a.timeout) < 1) usage(`--timeout must be whole seconds >= 1 (got '${a.timeout}')`);
    timeoutS = Number(a.timeout);
  }
  if (a.timeout !== undefined && !proxy && waitPort === undefined) usage("option '--timeout' needs -W or --wait");

  const cfgPath = a.config ?? defaultConfigPath(home);
  const file = readProfileFile(cfgPath, a.config !== undefined);
  const name = a.positionals[0] ?? (proxy as HostPort).host;
  const p: Profile | undefined = file ? findProfile(file, name) : undefined;
  const d = file?.defaults;
  // `ProxyCommand knock -W %h:%p` without HostName: %h is the ssh alias, i.e. the profile name
  if (proxy && p?.host && proxy.host === p.name) proxy = { host: p.host, port: proxy.port };
  const pick = <K extends keyof Profile>(k: K): Profile[K] | undefined => p?.[k] ?? d?.[k];
  const keyFromCfg = pick('key');
  // the profile's `allow-ip = nat` is --nat; a command-line --allow-ip or --nat overrides it
  const fromProfile = allowIp === undefined && !a.nat ? pick('allowIp') : undefined;
  const nat = !!a.nat || fromProfile === 'nat';
  const allow = nat ? undefined : allowIp ?? fromProfile;
  stun ??= pick('stun') as StunServer[] | undefined;
  if (stun && a.stun !== undefined && allow !== 'auto') usage("option '--stun' needs --allow-ip auto");
  const family = a.family ?? pick('family');
  return {
    keyPath: a.key ?? (keyFromCfg !== undefined ? expandPath(keyFromCfg, cfgPath, home) : defaultKeyPath(home)),
    host: p?.host ?? name,
    spaPort: spaPort ?? pick('spaPort') ?? DEFAULT_SPA_PORT,
    door: door ?? pick('door') ?? '',
    ttl: ttl ?? pick('ttl') ?? 0,
    stun: stun ?? [],
    verbose: a.verbose, dryRun: !!a.dryRun, timeoutS, nat,
    ...(family !== undefined ? { family } : {}),
    ...(allow !== undefined ? { allowIp: allow } : {}),
    ...(proxy ? { proxy } : {}),
    ...(waitPort !== undefined ? { waitPort } : {}),
    ...(p ? { profile: p.name } : {}),
  };
}

/** `knock NAME` (one argument, no --spa): is NAME a profile? Reads the config only then. */
export function isProfileName(name: string, config: string | undefined, home: string): boolean {
  const file = readProfileFile(config ?? defaultConfigPath(home), config !== undefined);
  return !!file?.profiles.has(name);
}
