/**
 * Normalised, stable text of a Config for `knockd --check`. Every effective option is shown
 * (defaults included); settings that are not set appear as comments. The output parses back
 * to the same Config (apart from line numbers), provided the one_time_sequences files still
 * hold the same first sequence and no value is so close to the 4095-byte line limit that
 * the normalised key name pushes it over. Pure.
 */
import type { Config, Door, FlagName } from './types.js';
import { formatSequence } from './sequence.js';
import { formatNftSetRef } from './nft.js';

const FLAG_ORDER: readonly FlagName[] = ['fin', 'syn', 'rst', 'psh', 'ack', 'urg'];

export function formatTcpFlags(flags: Door['tcpFlags']): string {
  const out: string[] = [];
  for (const f of FLAG_ORDER) {
    const v = flags[f];
    if (v === true) out.push(f);
    else if (v === false) out.push(`!${f}`);
  }
  return out.join(',');
}

export function formatConfig(c: Config): string {
  const o = c.options;
  const lines: string[] = [`# ${c.file}`, '[options]'];
  const opt = (k: string, v: string | undefined, unsetNote: string): void => {
    lines.push(v === undefined ? `\t# ${k}: ${unsetNote}` : `\t${k} = ${v}`);
  };
  lines.push(o.useSyslog ? '\tUseSyslog' : '\t# UseSyslog: off');
  opt('LogFile', o.logFile, 'not set');
  opt('PidFile', o.pidFile, 'not set (default /var/run/knockd.pid, used with -d)');
  opt('Interface', o.interface, 'not set (command line or default)');
  opt('SPAPort', String(o.spaPort), '');
  opt('SPAMode', o.spaMode, '');
  opt('SPAWindow', String(o.spaWindow), '');
  opt('SPAAddress', o.spaAddresses.length ? o.spaAddresses.join(',') : undefined, 'none');
  opt('KeysDir', o.keysDir, '');
  opt('StateDir', o.stateDir, '');
  opt('AuditLog', o.auditLog, 'not set');
  opt('CloseOnExit', o.closeOnExit ? 'yes' : 'no', '');
  opt('MaxAttempts', String(o.maxAttempts), '');
  opt('ClassicOpenRate', String(o.classicOpenRate), '');
  for (const d of c.doors) {
    lines.push('', `[${d.name}]`);
    const kv = (k: string, v: string | undefined, unsetNote = 'not set'): void => {
      lines.push(v === undefined ? `\t# ${k}: ${unsetNote}` : v === '' ? `\t${k} =` : `\t${k} = ${v}`);
    };
    if (d.oneTimeSequences !== undefined) kv('one_time_sequences', d.oneTimeSequences);
    kv('sequence', d.sequence.length ? formatSequence(d.sequence) : undefined, 'none (SPA only)');
    kv('seq_timeout', String(d.seqTimeout));
    const flags = formatTcpFlags(d.tcpFlags);
    kv('tcpflags', flags === '' ? undefined : flags, 'any');
    kv('start_command', d.startCommand);
    kv('start_command_6', d.startCommand6, d.startCommand === undefined ? 'not set' : 'not set (IPv6 uses start_command)');
    kv('stop_command', d.stopCommand);
    kv('stop_command_6', d.stopCommand6, d.stopCommand === undefined ? 'not set' : 'not set (IPv6 uses stop_command)');
    kv('cmd_timeout', String(d.cmdTimeout));
    kv('target', d.target, 'not set (local addresses)');
    kv('spa', d.spa ? 'yes' : 'no');
    kv('ports', d.ports ? formatSequence(d.ports) : undefined);
    if (d.nft) {
      kv('nft_set', d.nft.set4 && formatNftSetRef(d.nft.set4), 'not set (IPv4 knocks add no element)');
      kv('nft_set_6', d.nft.set6 && formatNftSetRef(d.nft.set6), 'not set (IPv6 knocks add no element)');
      kv('nft_element', d.nft.element);
    }
  }
  return lines.join('\n') + '\n';
}
