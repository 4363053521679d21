/**
 * `knockd`: the daemon (knockd 0.8's flags) plus admin commands:
 *   knockd [-i IF] [-d] [-c FILE] [-D] [-l] [-p FILE] [-g FILE] [-v] [-4] [-V] [-h]
 *   knockd --check [-c FILE]           validate and print the normalised config
 *   knockd [-c FILE] keys add|list|show|set|revoke|unrevoke|remove ...
 *   knockd [-c FILE] audit [filters]   who opened which door
 *   knockd [-c FILE] status            doors open right now
 *   knockd firewall --print nft [-c FILE]   nftables ruleset for the nft doors
 *   knockd help [COMMAND]
 *
 * A word that is not a command is an error with a suggestion, never a daemon start; `--help`
 * works for every command without reading any config; every operator error is one line with
 * a stable code (AppError, or the system error's code), never a stack trace.
 */
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { Command, CommanderError } from 'commander';
import { AppError, exitCodeFor, isAppError } from '../core/errors.js';
import type { Config } from '../core/config/types.js';
import { VERSION } from '../version.js';
import { suggest } from './suggest.js';

export const SUBCOMMANDS = ['keys', 'audit', 'status', 'firewall'] as const;
type Sub = typeof SUBCOMMANDS[number];
const TAKES_VALUE = new Set(['-i', '--interface', '-c', '--config', '-p', '--pidfile', '-g', '--logfile']);
export const DEFAULT_CONFIG = '/etc/knockd.conf';

interface Io { out: (s: string) => void; err: (s: string) => void }

/** Splits `knockd [root options] WORD [its args]`; WORD is the first argument that is not an option. */
function splitArgs(argv: readonly string[]): { root: string[]; word?: string; rest: string[] } {
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i] as string;
    if (TAKES_VALUE.has(a)) { i++; continue; }
    if (a === '--') return { root: argv.slice(0, i), ...(argv[i + 1] !== undefined ? { word: argv[i + 1] as string } : {}), rest: argv.slice(i + 2) };
    if (!a.startsWith('-') || a === '-') return { root: argv.slice(0, i), word: a, rest: argv.slice(i + 1) };
  }
  return { root: [...argv], rest: [] };
}

function program(io: Io): Command {
  return new Command('knockd')
    .description('port-knocking daemon: knockd 0.8 compatible doors and signed single-packet knocks')
    .option('-i, --interface <int>', 'network interface to listen on (default "eth0")')
    .option('-d, --daemon', 'run as a daemon')
    .option('-c, --config <file>', 'use an alternate config file', DEFAULT_CONFIG)
    .option('-D, --debug', 'output debug messages')
    .option('-l, --lookup', 'lookup DNS names (may be a security risk)')
    .option('-p, --pidfile <file>', 'use an alternate pidfile')
    .option('-g, --logfile <file>', 'use an alternate logfile')
    .option('-v, --verbose', 'be verbose')
    .option('-4, --only-ip-v4', 'do not track ipv6')
    .option('--check', 'validate the config file, print it normalised and exit')
    .option('--daemon-child', '(internal) detached child of --daemon')
    .option('-V, --version', 'display version')
    .helpOption('-h, --help', 'this help')
    .addHelpText('after', `
commands (each has --help):
  knockd [-c FILE] keys add|list|show|set|revoke|unrevoke|remove ...
                                                  manage enrolled SPA keys (KeysDir)
  knockd [-c FILE] audit [--since T] [--until T] [--key K] [--door D] [--ip IP] [--json]
  knockd [-c FILE] status [--json]                 doors open right now, stop commands owed
  knockd firewall --print nft [-c FILE]            nftables ruleset for the nft doors (for nft -f)
  knockd help [COMMAND]`)
    .allowExcessArguments(false)
    .exitOverride()
    .configureOutput({ writeOut: io.out, writeErr: io.err });
}

export async function knockdMain(argv: string[], io: Io): Promise<number> {
  try {
    return await main(argv, io);
  } catch (e) {
    return report(e, io);
  }
}

/** One line per operator error: AppError code, or the system error's code (EACCES, ...). */
export function report(e: unknown, io: Io): number {
  if (isAppError(e)) {
    io.err(`knockd: ${e.message} [${e.code}]\n`);
    return exitCodeFor(e.code);
  }
  const code = (e as NodeJS.ErrnoException | null)?.code;
  if (typeof code === 'string' && /^E[A-Z0-9]+$/.test(code)) {
    io.err(`knockd: ${(e as Error).message} [${code}]\n`);
    return 1;
  }
  io.err(`knockd: internal error: ${e instanceof Error ? e.message : String(e)} [ERR_INTERNAL]${process.env['KNOCKD_DEBUG'] ? `\n${(e as Error).stack ?? ''}` : ' (KNOCKD_DEBUG=1 shows where)'}\n`);
  return 70;
}

async function main(argv: string[], io: Io): Promise<number> {
  const { root, word, rest } = splitArgs(argv);
  const p = program(io);
  try {
    p.parse(root, { from: 'user' });
  } catch (e) {
    if (e instanceof CommanderError) return e.exitCode === 0 ? 0 : exitCodeFor('ERR_USAGE');
    throw e;
  }
  const opts = p.opts<{
    interface?: string; daemon?: boolean; config: string; debug?: boolean; lookup?: boolean; pidfile?: string;
    logfile?: string; verbose?: boolean; onlyIpV4?: boolean; check?: boolean; daemonChild?: boolean; version?: boolean;
  }>();
  if (opts.version) {
    io.out(`knockd-ts ${VERSION} (knockd 0.8 compatible)\n`);
    return 0;
  }
  if (word !== undefined) {
    if (word === 'help') {
      const topic = rest[0];
      if (topic === undefined) { p.outputHelp(); return 0; }
      if (!(SUBCOMMANDS as readonly string[]).includes(topic)) return unknown(topic, io);
      return runSubcommand(topic as Sub, ['--help'], opts.config, io);
    }
    if (!(SUBCOMMANDS as readonly string[]).includes(word)) return unknown(word, io);
    return runSubcommand(word as Sub, rest, opts.config, io);
  }
  if (opts.check) {
    const { loadConfig } = await import('../io/read-config.js');
    const { formatConfig } = await import('../core/config/format.js');
    const c = loadConfig(opts.config);
    io.out(formatConfig(c));
    for (const w of c.warnings) io.err(`warning: ${w}\n`);
    return 0;
  }
  if (opts.daemon && !opts.daemonChild) return await daemonize(argv, io);
  const { runDaemon } = await import('../daemon/main.js');
  return await runDaemon({
    configPath: opts.config, iface: opts.interface, pidFile: opts.pidfile, logFile: opts.logfile,
    daemonChild: Boolean(opts.daemonChild), debug: Boolean(opts.debug), verbose: Boolean(opts.verbose),
    lookup: Boolean(opts.lookup), onlyV4: Boolean(opts.onlyIpV4), out: io.out, err: io.err,
    onReady: () => { if (opts.daemonChild && process.send) process.send('ready'); },
  });
}

function unknown(word: string, io: Io): number {
  const s = suggest(word, [...SUBCOMMANDS, 'help']);
  io.err(`knockd: unknown command '${word}'${s ? ` (did you mean '${s}'?)` : ''}; run 'knockd --help' [ERR_USAGE]\n`);
  return exitCodeFor('ERR_USAGE');
}

const wantsHelp = (args: readonly string[]): boolean => args.some((a) => a === '-h' || a === '--help');

/** The config a subcommand works on; its --help needs none, so it gets the built-in defaults. */
async function configFor(path: string, helpOnly: boolean): Promise<Config> {
  if (helpOnly) {
    const { parseConfig } = await import('../core/config/parse.js');
    return parseConfig('', path, { readOts: () => '', resolvePath: (x) => x });
  }
  const { loadConfig } = await import('../io/read-config.js');
  return loadConfig(path);
}

async function runSubcommand(sub: Sub, rest: string[], configPath: string, io: Io): Promise<number> {
  // reads its own config (it also accepts -c after the subcommand)
  if (sub === 'firewall') return (await import('./firewall.js')).firewallMain(rest, { configPath, ...io });
  const config = await configFor(configPath, wantsHelp(rest));
  const now = () => Date.now();
  switch (sub) {
    case 'keys': {
      const { keysMain } = await import('./keys.js');
      return keysMain(rest, {
        keysDir: config.options.keysDir, out: io.out, err: io.err,
        spaDoors: config.doors.filter((d) => d.spa).map((d) => d.name),
        stateDir: config.options.stateDir,
        ...(config.options.auditLog !== undefined ? { auditLog: config.options.auditLog } : {}),
        notifyDaemon: () => signalDaemon(`${config.options.stateDir}/knockd.pid`),
      });
    }
    case 'audit': {
      if (!config.options.auditLog && !wantsHelp(rest)) throw new AppError('ERR_CONFIG_VALUE', `${config.file}: no AuditLog is configured in [options]; nothing to read`);
      const { auditMain } = await import('./audit.js');
      return auditMain(rest, { auditLog: config.options.auditLog ?? '(AuditLog from the config)', out: io.out, err: io.err, now });
    }
    case 'status': {
      const { statusMain } = await import('./status.js');
      const sets = config.doors.flatMap((d) => [d.nft?.set4, d.nft?.set6].flatMap((set) => (set ? [{ door: d.name, set }] : [])));
      const nft = { sets, list: (await import('../io/nft-list-once.js')).nftListOnce };
      return statusMain(rest, { stateDir: config.options.stateDir, out: io.out, err: io.err, now, nft });
    }
    default:
      throw new AppError('ERR_INTERNAL', `unhandled command ${sub}`);
  }
}

/**
 * SIGHUP the running daemon (if any) so key changes apply at once; fs.watch is the fallback.
 * Returns the pid signalled, or undefined when no daemon runs.
 * The pid file outlives a killed daemon and its PID may now be someone else's, for whom SIGHUP
 * means "terminate": signal only a process whose command line is our knockd.
 */
function signalDaemon(pidPath: string): number | undefined {
  try {
    const pid = Number(readFileSync(pidPath, 'utf8').trim());
    if (!Number.isInteger(pid) || pid <= 1) return undefined;
    const argv = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0');
    if (!argv.some((a) => /(^|\/)knockd(-ts)?(\.js)?$/.test(a))) return undefined;
    process.kill(pid, 'SIGHUP');
    return pid;   // keysMain waits for its acknowledgement (StateDir/keyring.ack)
  } catch { return undefined; /* no daemon running: nothing to tell */ }
}

/** `-d`: Node cannot fork(), so re-run ourselves detached and wait until capture is up. */
function daemonize(argv: string[], io: Io): Promise<number> {
  return new Promise((resolve) => {
    const script = process.argv[1] as string;
    const child = spawn(process.execPath, [script, ...argv, '--daemon-child'], {
      detached: true, cwd: '/', stdio: ['ignore', 'ignore', 'pipe', 'ipc'],
    });
    let errText = '';
    child.stderr?.on('data', (d: Buffer) => { if (errText.length < 8192) errText += d.toString(); });
    child.on('message', (m) => {
      if (m === 'ready') {
        child.disconnect();
        child.stderr?.destroy();
        child.unref();
        resolve(0);
      }
    });
    child.on('exit', (code) => { io.err(errText); resolve(code ?? 1); });
  });
}
