/**
 * Client profiles: the text of `~/.knock/config` (README "Client profiles"). Pure.
 *
 *   # comment lines start with '#'; ' #' after a value starts a comment too
 *   [default]                 optional; its settings apply to every profile
 *   stun = stun.example.net:3478, 192.0.2.10
 *
 *   [myserver]                a profile name: [A-Za-z0-9_.-]{1,64}
 *   host     = server.example.org
 *   spa-port = 62201
 *   door     = ssh
 *   key      = ~/.knock/key
 *   allow-ip = auto           or an IP address
 *   ttl      = 60
 *   family   = 4              or 6
 *
 * The parser is strict: unknown keys, repeated keys or sections, settings outside a section
 * and bad values are errors naming file:line. Paths are kept as written (the caller expands
 * `~` and resolves relative paths against the config file's directory).
 */
import { AppError } from './errors.js';
import { parseIp } from './ip.js';
import { DOOR_NAME_RE, MAX_DOOR_LEN } from './spa/wire.js';
import { parseStunList, type StunServer } from './stun.js';

export interface Profile {
  readonly name: string;
  readonly host?: string;
  readonly spaPort?: number;
  readonly door?: string;
  readonly key?: string;
  /** 'auto' (STUN), 'nat' (like --nat) or canonical IP text. */
  readonly allowIp?: string;
  readonly ttl?: number;
  readonly family?: 4 | 6;
  readonly stun?: readonly StunServer[];
}

export interface ProfileFile {
  readonly defaults: Profile;
  readonly profiles: ReadonlyMap<string, Profile>;
}

export const PROFILE_NAME_RE = /^[A-Za-z0-9_.-]{1,64}$/;
export const HOST_RE = /^[A-Za-z0-9._:-]{1,253}$/;
const KEYS = ['host', 'spa-port', 'door', 'key', 'allow-ip', 'ttl', 'family', 'stun'] as const;
type Key = (typeof KEYS)[number];
type Mutable = { -readonly [K in keyof Profile]: Profile[K] };

/** Validate one setting; returns the field to set or an error message. */
export function profileValue(key: Key, v: string): { field: keyof Profile; value: Profile[keyof Profile] } | string {
  switch (key) {
    case 'host':
      return HOST_RE.test(v) ? { field: 'host', value: v } : `host '${v}' must be a host name or an IP address`;
    case 'spa-port':
      return /^\d{1,5}$/.test(v) && Number(v) >= 1 && Number(v) <= 65535 ? { field: 'spaPort', value: Number(v) } : `spa-port must be 1-65535 (got '${v}')`;
    case 'door':
      return v.length <= MAX_DOOR_LEN && v !== '' && DOOR_NAME_RE.test(v) ? { field: 'door', value: v } : `door '${v}' must match [A-Za-z0-9_.-]{1,32}`;
    case 'key':
      return v !== '' ? { field: 'key', value: v } : 'key needs a file name';
    case 'allow-ip': {
      if (v === 'auto' || v === 'nat') return { field: 'allowIp', value: v };
      const ip = parseIp(v);
      return ip ? { field: 'allowIp', value: ip.text } : `allow-ip must be 'auto', 'nat' or a numeric IPv4/IPv6 address (got '${v}')`;
    }
    case 'ttl':
      return /^\d{1,9}$/.test(v) && Number(v) >= 1 ? { field: 'ttl', value: Number(v) } : `ttl must be a whole number of seconds >= 1 (got '${v}')`;
    case 'family':
      return v === '4' || v === '6' ? { field: 'family', value: Number(v) as 4 | 6 } : `family must be 4 or 6 (got '${v}')`;
    case 'stun': {
      const list = parseStunList(v);
      return list ? { field: 'stun', value: list } : `stun must be a comma-separated list of host[:port] (at most 8; got '${v}')`;
    }
  }
}

export function parseProfiles(text: string, file: string): ProfileFile {
  const fail = (code: 'ERR_CONFIG_SYNTAX' | 'ERR_CONFIG_VALUE', line: number, msg: string): never => {
    throw new AppError(code, `${file}:${line}: ${msg}`);
  };
  const sections = new Map<string, { p: Mutable; seen: Set<string> }>();
  let cur: { p: Mutable; seen: Set<string> } | undefined;
  const lines = text.split('\n');
  for (let i = 0; i < lines.length; i++) {
    const n = i + 1;
    const l = (lines[i] as string).replace(/\r$/, '').replace(/\s+#.*$/, '').trim();
    if (l === '' || l.startsWith('#')) continue;
    const sec = /^\[([^\]]*)\]$/.exec(l);
    if (sec) {
      const name = (sec[1] as string).trim();
      if (!PROFILE_NAME_RE.test(name)) fail('ERR_CONFIG_SYNTAX', n, `profile name '${name}' must match [A-Za-z0-9_.-]{1,64}`);
      if (sections.has(name)) fail('ERR_CONFIG_SYNTAX', n, `profile [${name}] appears twice`);
      cur = { p: { name }, seen: new Set() };
      sections.set(name, cur);
      continue;
    }
    const kv = /^([A-Za-z][A-Za-z0-9-]*)\s*=\s*(.*)$/.exec(l);
    if (!kv) { fail('ERR_CONFIG_SYNTAX', n, `expected '[name]' or 'key = value', got '${l.slice(0, 60)}'`); continue; }
    const key = (kv[1] as string).toLowerCase();
    const value = (kv[2] as string).trim();
    if (!cur) { fail('ERR_CONFIG_SYNTAX', n, `'${key}' is outside a [profile] section`); continue; }
    if (!(KEYS as readonly string[]).includes(key)) fail('ERR_CONFIG_SYNTAX', n, `unknown setting '${key}' (known: ${KEYS.join(', ')})`);
    if (cur.seen.has(key)) fail('ERR_CONFIG_SYNTAX', n, `'${key}' is set twice in [${cur.p.name}]`);
    cur.seen.add(key);
    const r = profileValue(key as Key, value);
    if (typeof r === 'string') { fail('ERR_CONFIG_VALUE', n, r); continue; }
    (cur.p as Record<string, unknown>)[r.field] = r.value;
  }
  const defaults: Profile = sections.get('default')?.p ?? { name: 'default' };
  const profiles = new Map<string, Profile>();
  for (const [name, s] of sections) {
    if (name === 'default') continue;
    profiles.set(name, { ...defaults, ...s.p, name });
  }
  return { defaults, profiles };
}

/**
 * The profile for what the user typed: a profile of that name, else the one profile whose
 * `host` is exactly that (so `ProxyCommand knock -W %h:%p` finds it by HostName), else none.
 */
export function findProfile(f: ProfileFile, nameOrHost: string): Profile | undefined {
  const byName = f.profiles.get(nameOrHost);
  if (byName) return byName;
  const byHost = [...f.profiles.values()].filter((p) => p.host === nameOrHost);
  return byHost.length === 1 ? byHost[0] : undefined;
}
