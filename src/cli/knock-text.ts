/**
 * The texts `knock` prints: knock 0.8's usage (byte-identical, also on errors), the knockd-ts
 * additions shown by -h only, and the version line.
 */
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

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
export const REPEAT_USAGE =
  'knockd-ts extension:\n' +
  '  -r, --repeat <n>     send every hit <n> times (1-100, default 1), with -d <t> ms after\n' +
  '                       each copy: a hit lost under load is covered by its copies\n' +
  '                       (knockd-ts ignores the copies; knockd 0.8 would reset the sequence)\n' +
  '\n';

/** Printed after USAGE for an explicit -h/--help only, so error output stays byte-identical to knock 0.8. */
export const SPA_USAGE =
  'signed single-packet authorization (knockd-ts):\n' +
  '  knock --spa [--key <file>] [--door <name>] [--ttl <s>] [--allow-ip <ip>|auto | --nat] [--stun <host[:port]>,...]\n' +
  '        [--spa-port <n>] [--dry-run] [--wait <port>] [--timeout <s>] [-4|-6] [-v] <host>|<profile>\n' +
  '  knock <profile>                     knock with a profile of ~/.knock/config (--config <file>)\n' +
  '  knock [--spa] [<profile>] -W <host>:<port>   ssh ProxyCommand: knock, connect, relay stdin/stdout\n' +
  '  knock --keygen [--key <file>] [--comment <text>] [--type ed25519|hmac] [--force]\n' +
  '  knock --pubkey [--key <file>]       print the public line of a private key again\n' +
  '  (--key defaults to ~/.knock/key)\n' +
  '\n';

export function versionText(): string {
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
