/**
 * Keys of a door section: knockd's plus our extensions. Pure (files through ParseEnv).
 */
import { parseIp } from '../ip.js';
import { cTrim, cUpper, knockdSequence } from './catoi.js';
import { q, short, type Directive } from './directive.js';
import { parseSequence, formatSequence } from './sequence.js';
import type { FlagName, Hit } from './types.js';
import { nftDoorKey, type NftBuilder, type NftKey } from './nft.js';

/** Largest timeout in seconds: Node timers overflow beyond 2^31-1 ms. */
export const MAX_TIMEOUT_SECONDS = 2147483;

export interface DoorBuilder {
  name: string;
  line: number;
  sequence: Hit[];
  oneTimeSequences?: string;
  seqTimeout: number;
  tcpFlags: Partial<Record<FlagName, boolean>>;
  startCommand?: string;
  startCommand6?: string;
  stopCommand?: string;
  stopCommand6?: string;
  cmdTimeout: number;
  target?: string;
  spa: boolean;
  ports?: Hit[];
  nft?: NftBuilder;
}


export const DOOR_KEY_NAMES = new Set([
  'SEQUENCE', 'ONE_TIME_SEQUENCES', 'SEQ_TIMEOUT', 'TIMEOUT', 'TCPFLAGS',
  'START_COMMAND', 'COMMAND', 'START_COMMAND_6', 'COMMAND_6', 'STOP_COMMAND', 'STOP_COMMAND_6',
  'CMD_TIMEOUT', 'TARGET', 'SPA', 'PORTS', 'NFT_SET', 'NFT_SET_6', 'NFT_ELEMENT',
]);

const FLAG_TOKENS: Readonly<Record<string, readonly [FlagName, boolean]>> = {
  FIN: ['fin', true], '!FIN': ['fin', false], SYN: ['syn', true], '!SYN': ['syn', false],
  RST: ['rst', true], '!RST': ['rst', false], PSH: ['psh', true], '!PSH': ['psh', false],
  ACK: ['ack', true], '!ACK': ['ack', false], URG: ['urg', true], '!URG': ['urg', false],
};

/** Applies one line of a door section. `isOptionKey` only improves the message for misplaced keys. */
export function applyDoorKey(door: DoorBuilder, d: Directive, isOptionKey: (key: string) => boolean): void {
  const { key, keyText, value } = d;
  if (!DOOR_KEY_NAMES.has(key)) {
    d.fail('ERR_CONFIG_SYNTAX', 'unknown key in a door section',
      isOptionKey(key) ? `${keyText} belongs in [options]` :
        'known: Sequence, One_Time_Sequences, Seq_Timeout, TCPFlags, Start_Command, Start_Command_6, Stop_Command, Stop_Command_6, Cmd_Timeout, Target, spa, ports, nft_set, nft_set_6, nft_element');
  }
  switch (key) {
    case 'SEQUENCE': {
      const r = parseSequence(value);
      if (!r.ok) d.fail('ERR_CONFIG_VALUE', r.error);
      else door.sequence = r.hits;
      break;
    }
    case 'PORTS': {
      const r = parseSequence(value);
      if (!r.ok) d.fail('ERR_CONFIG_VALUE', r.error, 'ports = PORT[:tcp|udp],...');
      else door.ports = r.hits;
      break;
    }
    case 'ONE_TIME_SEQUENCES': {
      if (value === '') d.fail('ERR_CONFIG_VALUE', 'empty path');
      const abs = d.env.resolvePath(value);
      let content = '';
      try {
        content = d.env.readOts(abs);
      } catch (e) {
        const msg = e instanceof Error ? e.message : String(e);
        d.fail('ERR_OTS_FILE', msg);
      }
      door.sequence = firstOtsSequence(content, abs, door.name, d.warnings, (what, hint) => d.fail('ERR_OTS_FILE', what, hint));
      door.oneTimeSequences = abs;
      break;
    }
    case 'SEQ_TIMEOUT': case 'TIMEOUT': door.seqTimeout = d.num(0, MAX_TIMEOUT_SECONDS, ' seconds'); break;
    case 'CMD_TIMEOUT': door.cmdTimeout = d.num(0, MAX_TIMEOUT_SECONDS, ' seconds'); break;
    case 'TCPFLAGS': {
      // knockd: upper-case, split on ',', tokens NOT trimmed, later token wins, lines accumulate.
      for (const tok of cUpper(value).split(',')) {
        const f = FLAG_TOKENS[tok];
        if (!f) {
          d.fail('ERR_CONFIG_VALUE', `unrecognized flag ${q(tok)}`,
            tok !== cTrim(tok) ? 'no blanks around flags, knockd rejects them too' :
              tok === '' ? 'empty flag' : 'use fin, syn, rst, psh, ack, urg, optionally with !');
        } else door.tcpFlags[f[0]] = f[1];
      }
      break;
    }
    case 'START_COMMAND': case 'COMMAND': door.startCommand = value; break;
    case 'START_COMMAND_6': case 'COMMAND_6': door.startCommand6 = value; break;
    case 'STOP_COMMAND': door.stopCommand = value; break;
    case 'STOP_COMMAND_6': door.stopCommand6 = value; break;
    case 'TARGET': {
      const ip = parseIp(value);
      if (!ip) {
        d.fail('ERR_CONFIG_VALUE', 'not a numeric IPv4/IPv6 address',
          value === '' ? 'empty target' :
            'knockd compares the destination address as text, so a host name never matches; write the numeric address');
      } else door.target = ip.text;
      break;
    }
    case 'SPA': door.spa = d.yesNo(); break;
    case 'NFT_SET': case 'NFT_SET_6': case 'NFT_ELEMENT': {
      const p = nftDoorKey(door.nft ??= { element: 'addr' }, key as NftKey, value);
      if (p) d.fail('ERR_CONFIG_VALUE', p.error, p.hint);
      break;
    }
  }
}

/**
 * The first usable line of a one-time-sequences file. Lines knockd also skips (port > 65535,
 * bad protocol, > 32 items) are skipped with a warning as knockd does; lines knockd would use
 * with a meaning we refuse (port 0 from an empty item, `-1`, ...) are an error, because
 * skipping them would make us expect a different sequence than knockd.
 */
function firstOtsSequence(
  content: string, path: string, door: string, warnings: string[],
  fail: (what: string, hint?: string) => never,
): Hit[] {
  const lines = content.split('\n');
  for (let i = 0; i < lines.length; i++) {
    const line = cTrim(lines[i] ?? '');
    if (line === '' || line.startsWith('#')) continue;
    const r = parseSequence(line);
    if (r.ok) return r.hits;
    const k = knockdSequence(line);
    if (k.ok) {
      fail(`${path}:${i + 1}: ${q(short(line))}: ${r.error}`,
        `knockd would use it as ${formatSequence(k.hits)}; fix or comment out the line`);
    }
    warnings.push(`${path}:${i + 1}: ${q(short(line))}: skipped invalid sequence for door '${door}': ${r.error}`);
  }
  return fail(`${path}: no valid sequence left in the one time sequences file for door '${door}'`,
    'add a line like " 7000,8000:udp,9000"');
}
