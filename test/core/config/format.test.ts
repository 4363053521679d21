import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync } from 'node:fs';
import { formatConfig, formatTcpFlags } from '../../../src/core/config/format.js';
import { parseConfig } from '../../../src/core/config/parse.js';
import type { ParseEnv } from '../../../src/core/config/parse.js';
import type { Config } from '../../../src/core/config/types.js';
import { loadConfig } from '../../../src/io/read-config.js';
import { fixture } from '../../helpers/paths.js';
import { CORPUS, corpusEnv } from './corpus.js';

const env: ParseEnv = { resolvePath: (p) => (p.startsWith('/') ? p : `/cwd/${p}`), readOts: () => ' 2001,2002:udp\n' };

test('formatConfig: exact normalised text', () => {
  const c = parseConfig([
    '[options]', 'usesyslog', 'logfile = /var/log/knockd.log', 'SPAAddress = 2001:DB8::1',
    '[ open SSH ]', 'Sequence = 7000, 8000:UDP', 'timeout = 5', 'TCPFlags = ack,SYN,!ack,!urg', 'command = a %IP% # c',
    'stop_command_6 =', 'target = 192.0.2.7', 'ports = 22',
    '[ots]', 'one_time_sequences = s',
  ].join('\n'), 'k.conf', env);
  assert.equal(formatConfig(c), [
    '# /cwd/k.conf',
    '[options]',
    '\tUseSyslog',
    '\tLogFile = /var/log/knockd.log',
    '\t# PidFile: not set (default /var/run/knockd.pid, used with -d)',
    '\t# Interface: not set (command line or default)',
    '\tSPAPort = 62201',
    '\tSPAMode = pcap',
    '\tSPAWindow = 60',
    '\tSPAAddress = 2001:db8::1',
    '\tKeysDir = /etc/knockd/keys',
    '\tStateDir = /var/lib/knockd',
    '\t# AuditLog: not set',
    '\tCloseOnExit = yes',
    '\tMaxAttempts = 65536',
    '\tClassicOpenRate = 5',
    '',
    '[ open SSH ]',
    '\tsequence = 7000:tcp,8000:udp',
    '\tseq_timeout = 5',
    '\ttcpflags = syn,!ack,!urg',
    '\tstart_command = a %IP% # c',
    '\t# start_command_6: not set (IPv6 uses start_command)',
    '\t# stop_command: not set',
    '\tstop_command_6 =',
    '\tcmd_timeout = 10',
    '\ttarget = 192.0.2.7',
    '\tspa = no',
    '\tports = 22:tcp',
    '',
    '[ots]',
    '\tone_time_sequences = /cwd/s',
    '\tsequence = 2001:tcp,2002:udp',
    '\tseq_timeout = 25',
    '\t# tcpflags: any',
    '\t# start_command: not set',
    '\t# start_command_6: not set',
    '\t# stop_command: not set',
    '\t# stop_command_6: not set',
    '\tcmd_timeout = 10',
    '\t# target: not set (local addresses)',
    '\tspa = no',
    '\t# ports: not set',
    '',
  ].join('\n'));
});

test('formatTcpFlags orders fin,syn,rst,psh,ack,urg', () => {
  assert.equal(formatTcpFlags({}), '');
  assert.equal(formatTcpFlags({ urg: false, fin: true, ack: false, syn: true }), 'fin,syn,!ack,!urg');
});

const strip = (c: Config): unknown => ({ ...c, file: '', warnings: [], doors: c.doors.map((d) => ({ ...d, line: 0 })) });

test('formatConfig round-trips: parse(format(c)) has the same meaning, for every accepted fixture', () => {
  let n = 0;
  for (const name of readdirSync(fixture('config')).filter((f) => f.endsWith('.conf'))) {
    if (CORPUS[name]?.ours !== 'accept') continue;
    // the normalised key names are longer than `command =`, so a line at the 4095-byte limit cannot round-trip
    if (name === 'ok-long-line-4095.conf') continue;
    const c = loadConfig(fixture('config', name), corpusEnv());
    const text = formatConfig(c);
    const again = parseConfig(text, c.file, corpusEnv());
    assert.deepEqual(strip(again), strip(c), name);
    assert.equal(formatConfig(again), text, `${name}: stable`);
    n++;
  }
  assert.ok(n >= 25, `only ${n} fixtures checked`);
});
