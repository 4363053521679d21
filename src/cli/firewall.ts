/**
 * `knockd firewall --print nft [-c FILE]`: print the nftables ruleset the config's nft doors need
 * (tables, timeout sets, guard chain; src/core/firewall/nft-ruleset.ts), ready for
 * `knockd firewall --print nft | nft -f -`. Reads the config only; changes nothing.
 *
 * Exit status: 0 printed, 64 bad arguments, 78 config problem (also: no door has an nft set).
 */
import { Command, CommanderError } from 'commander';
import { AppError, exitCodeFor, isAppError } from '../core/errors.js';

export interface FirewallIo {
  /** Config path from `knockd -c FILE firewall ...`; `firewall -c FILE` overrides it. */
  configPath: string;
  out: (s: string) => void;
  err: (s: string) => void;
}

export async function firewallMain(argv: string[], o: FirewallIo): Promise<number> {
  const cmd = new Command('knockd firewall')
    .description('print the firewall setup for the config\'s doors')
    .requiredOption('--print <kind>', 'what to print: nft (ruleset for nft -f)')
    .option('-c, --config <file>', `config file (default ${o.configPath})`)
    .allowExcessArguments(false)
    .exitOverride()
    .configureOutput({ writeOut: o.out, writeErr: o.err });
  try {
    cmd.parse(argv, { from: 'user' });
    const opts = cmd.opts<{ print: string; config?: string }>();
    if (opts.print !== 'nft') throw new AppError('ERR_USAGE', `--print ${JSON.stringify(opts.print)}: only "nft" is supported`);
    const { loadConfig } = await import('../io/read-config.js');
    const { renderNftRuleset } = await import('../core/firewall/nft-ruleset.js');
    const config = loadConfig(opts.config ?? o.configPath);
    for (const w of config.warnings) o.err(`warning: ${w}\n`);
    o.out(renderNftRuleset(config));
    return 0;
  } catch (e) {
    if (e instanceof CommanderError) return e.exitCode === 0 ? 0 : exitCodeFor('ERR_USAGE');
    if (isAppError(e)) {
      o.err(`knockd firewall: ${e.message} [${e.code}]\n`);
      return exitCodeFor(e.code);
    }
    throw e;
  }
}
