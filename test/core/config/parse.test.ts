import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseConfig } from '../../../src/core/config/parse.js';
import type { ParseEnv } from '../../../src/core/config/parse.js';
import { formatSequence } from '../../../src/core/config/sequence.js';
import { formatTcpFlags } from '../../../src/core/config/format.js';
import { AppError, isAppError } from '../../../src/core/errors.js';
import type { ErrorCode } from '../../../src/core/errors.js';
import type { Config } from '../../../src/core/config/types.js';

const FILE = 'test.conf';

function memEnv(files: Record<string, string> = {}): ParseEnv & { reads: string[] } {
  const reads: string[] = [];
  return {
    reads,
    resolvePath: (p: string) => (p.startsWith('/') ? p : `/cwd/${p}`),
    readOts(p: string): string {
      reads.push(p);
      const t = files[p];
      if (t === undefined) throw new AppError('ERR_OTS_FILE', `${p}: No such file or directory`);
      return t;
    },
  };
}

const parse = (text: string, files?: Record<string, string>): Config => parseConfig(text, FILE, memEnv(files));

/** One line per door: the whole normalised meaning. */
function doors(c: Config): string[] {
  return c.doors.map((d) => [
    `[${d.name}]@${d.line}`, formatSequence(d.sequence), `st=${d.seqTimeout}`, `ct=${d.cmdTimeout}`,
    `f=${formatTcpFlags(d.tcpFlags)}`,
    d.startCommand !== undefined ? `start=${JSON.stringify(d.startCommand)}` : '',
    d.startCommand6 !== undefined ? `start6=${JSON.stringify(d.startCommand6)}` : '',
    d.stopCommand !== undefined ? `stop=${JSON.stringify(d.stopCommand)}` : '',
    d.stopCommand6 !== undefined ? `stop6=${JSON.stringify(d.stopCommand6)}` : '',
    d.target !== undefined ? `target=${d.target}` : '',
    d.spa ? 'spa' : '',
    d.ports ? `ports=${formatSequence(d.ports)}` : '',
    d.oneTimeSequences ? `ots=${d.oneTimeSequences}` : '',
  ].filter((s) => s !== '').join(' '));
}

const VALID: ReadonlyArray<readonly [string, string, readonly string[]]> = [
  ['minimal door with defaults', '[d]\nsequence = 7000\n', ['[d]@1 7000:tcp st=25 ct=10 f=']],
  ['empty file', '', []],
  ['only comments and blanks', '# x\n\n   \t\n  # y\n', []],
  ['keys are case-insensitive, aliases', '[d]\nSEQUENCE = 1:UDP\nTimeout = 3\nCMD_Timeout = 4\nCommand = a\ncommand_6 = b\nStop_Command = c\nSTOP_COMMAND_6 = d\n',
    ['[d]@1 1:udp st=3 ct=4 f= start="a" start6="b" stop="c" stop6="d"']],
  ['CRLF and tabs are trimmed', '[d]\r\n\tsequence\t=\t7000 , 8000:udp\t\r\n\tcommand = x y\r\n',
    ['[d]@1 7000:tcp,8000:udp st=25 ct=10 f= start="x y"']],
  ['inline # stays in the value', '[d]\nsequence = 1\ncommand = /bin/true # x\n', ['[d]@1 1:tcp st=25 ct=10 f= start="/bin/true # x"']],
  ['split at the first =', '[d]\nsequence=1\ncommand=A=1 B==2\n', ['[d]@1 1:tcp st=25 ct=10 f= start="A=1 B==2"']],
  ['empty command values are kept as set-but-empty', '[d]\nsequence = 1\nstart_command =\nstart_command_6 =\nstop_command_6=\n',
    ['[d]@1 1:tcp st=25 ct=10 f= start="" start6="" stop6=""']],
  ['door names are untrimmed and case-preserving', '[ my door ]\nsequence = 1\n[door]]\nsequence = 2\n[OpenSSH]\nsequence = 3\n',
    ['[ my door ]@1 1:tcp st=25 ct=10 f=', '[door]]@3 2:tcp st=25 ct=10 f=', '[OpenSSH]@5 3:tcp st=25 ct=10 f=']],
  ['duplicate door names, [options] repeated', '[d]\nsequence = 1\n[options]\nlogfile = a\n[d]\nsequence = 2\n[options]\nlogfile = b\n',
    ['[d]@1 1:tcp st=25 ct=10 f=', '[d]@5 2:tcp st=25 ct=10 f=']],
  ['later keys overwrite earlier ones', '[d]\nsequence = 1\nsequence = 2,3\nseq_timeout = 5\ntimeout = 6\ncommand = a\nstart_command = b\n',
    ['[d]@1 2:tcp,3:tcp st=6 ct=10 f= start="b"']],
  ['tcpflags accumulate, later token wins', '[d]\nsequence = 1\ntcpflags = syn,!syn\ntcpflags = ACK\ntcpflags = fin,urg,!urg,psh,!rst\n',
    ['[d]@1 1:tcp st=25 ct=10 f=fin,!syn,!rst,psh,ack,!urg']],
  ['timeouts: zero, leading zeros, the maximum', '[d]\nsequence = 1\nseq_timeout = 0\ncmd_timeout = 0002147483\n',
    ['[d]@1 1:tcp st=0 ct=2147483 f=']],
  ['target canonicalised', '[a]\nsequence = 1\ntarget = 192.0.2.1\n[b]\nsequence = 2\ntarget = 2001:DB8:0:0:0::1\n',
    ['[a]@1 1:tcp st=25 ct=10 f= target=192.0.2.1', '[b]@4 2:tcp st=25 ct=10 f= target=2001:db8::1']],
  ['UTF-8 BOM accepted (decision)', '\uFEFF[d]\nsequence = 1\n', ['[d]@1 1:tcp st=25 ct=10 f=']],
  ['spa door without sequence', '[ssh]\nspa = yes\nports = 22:tcp\nstart_command = x\n', ['[ssh]@1 st=25 ct=10 f= start="x" spa ports=22:tcp']],
  ['spa door with a sequence too, spa = no', '[ssh]\nsequence = 1\nSPA = YES\n[other]\nsequence = 2\nspa = no\n',
    ['[ssh]@1 1:tcp st=25 ct=10 f= spa', '[other]@4 2:tcp st=25 ct=10 f=']],
  ['one_time_sequences: first valid line, relative path resolved', '[d]\none_time_sequences = seqs\n',
    ['[d]@1 2001:tcp,2002:udp st=25 ct=10 f= ots=/cwd/seqs']],
  ['a later sequence overrides the OTS sequence', '[d]\none_time_sequences = /abs/seqs\nsequence = 6000\n',
    ['[d]@1 6000:tcp st=25 ct=10 f= ots=/abs/seqs']],
  ['an OTS after a sequence replaces it', '[d]\nsequence = 6000\none_time_sequences = /abs/seqs\n',
    ['[d]@1 2001:tcp,2002:udp st=25 ct=10 f= ots=/abs/seqs']],
  ['a line of exactly 4095 bytes is fine', `[d]\nsequence = 1\ncommand = ${'x'.repeat(4095 - 10)}\n`,
    [`[d]@1 1:tcp st=25 ct=10 f= start="${'x'.repeat(4085)}"`]],
  ['a 127-byte door name is fine', `[${'n'.repeat(127)}]\nsequence = 1\n`, [`[${'n'.repeat(127)}]@1 1:tcp st=25 ct=10 f=`]],
];

const OTS = {
  '/cwd/seqs': '# used\n#2000,2001\n\n 2001,2002:udp\n 3001,3002\n',
  '/abs/seqs': ' 2001,2002:udp\n',
};

test('valid configs → normalised doors', () => {
  for (const [name, text, want] of VALID) {
    let c: Config;
    try { c = parse(text, OTS); } catch (e) { assert.fail(`${name}: ${String(e)}`); }
    assert.deepEqual(doors(c), want, name);
    assert.equal(c.file, `/cwd/${FILE}`);
  }
});

test('[options]: knockd keys, UseSyslog anywhere, defaults of the extensions', () => {
  const def = parse('');
  assert.deepEqual(def.options, {
    useSyslog: false, spaPort: 62201, keysDir: '/etc/knockd/keys', stateDir: '/var/lib/knockd', spaWindow: 60,
    spaMode: 'pcap', spaAddresses: [], closeOnExit: true, maxAttempts: 65536, classicOpenRate: 5,
  });
  const c = parse([
    '[options]', 'LogFile = /var/log/knockd.log', 'PidFile = /run/k.pid', 'Interface = lo', 'interface = eth9',
    'SPAPort = 4444', 'KeysDir = keys', 'StateDir = /var/lib/k', 'SPAWindow = 3600', 'SPAMode = Socket',
    'SPAAddress = 192.0.2.1, 2001:DB8::1,192.0.2.1', 'AuditLog = /var/log/audit.json', 'CloseOnExit = NO', 'MaxAttempts = 10000000', 'ClassicOpenRate = 50',
    '[d]', 'sequence = 1', 'usesyslog',
  ].join('\n'));
  assert.deepEqual(c.options, {
    useSyslog: true, logFile: '/var/log/knockd.log', pidFile: '/run/k.pid', interface: 'lo', spaPort: 4444,
    keysDir: '/cwd/keys', stateDir: '/var/lib/k', spaWindow: 3600, spaMode: 'socket',
    spaAddresses: ['192.0.2.1', '2001:db8::1'], auditLog: '/var/log/audit.json', closeOnExit: false, maxAttempts: 10000000, classicOpenRate: 50,
  });
  assert.equal(c.warnings.length, 1);
  assert.match(c.warnings[0] ?? '', /^test\.conf:5: \[options\] interface = "eth9": ignored, the first Interface \("lo", line 4\) wins/);
  // empty LogFile = no log file; empty Interface does not count as the first one
  const e = parse('[options]\nlogfile = x\nlogfile =\ninterface =\ninterface = eth1\n');
  assert.equal(e.options.logFile, undefined);
  assert.equal(e.options.interface, 'eth1');
  assert.match(e.warnings.join('\n'), /test\.conf:4: .*empty Interface ignored/);
});

interface Bad { readonly name: string; readonly text: string; readonly code: ErrorCode; readonly line: number; readonly has: readonly string[] }
const b = (name: string, text: string, code: ErrorCode, line: number, ...has: string[]): Bad => ({ name, text, code, line, has });

const INVALID: readonly Bad[] = [
  // lexical / syntax (knockd rejects these too)
  b('directive before any section', 'sequence = 1\n', 'ERR_CONFIG_SYNTAX', 1, '"sequence = 1"', 'must belong to a section'),
  b('empty section name', '[]\n', 'ERR_CONFIG_SYNTAX', 1, 'bad section name'),
  b('line without = ', '[d]\nsequence 7000\n', 'ERR_CONFIG_SYNTAX', 2, '[d] "sequence 7000"', 'syntax error'),
  b('; is not a comment', '[d]\nsequence = 1\n; c\n', 'ERR_CONFIG_SYNTAX', 3, '"; c"', "';' does not start a comment"),
  b('UseSyslog = yes', '[options]\nUseSyslog = yes\n', 'ERR_CONFIG_SYNTAX', 2, '[options] UseSyslog = "yes"', 'bare "UseSyslog"'),
  b('UseSyslog = (empty)', '[options]\nusesyslog =\n', 'ERR_CONFIG_SYNTAX', 2, 'usesyslog = ""'),
  b('empty key', '[d]\n= 5\n', 'ERR_CONFIG_SYNTAX', 2, '[d]  = "5"', 'missing key'),
  b('unknown [options] key', '[options]\nfoo = bar\n', 'ERR_CONFIG_SYNTAX', 2, '[options] foo = "bar"', 'unknown key in [options]'),
  b('door key in [options]', '[options]\nSequence = 1\n', 'ERR_CONFIG_SYNTAX', 2, 'Sequence = "1"', 'belongs in a door section'),
  b('[options] key in a door', '[d]\nsequence = 1\nLogFile = x\n', 'ERR_CONFIG_SYNTAX', 3, '[d] LogFile = "x"', 'belongs in [options]'),
  b('unknown door key', '[d]\nsequence = 1\ndescription = x\n', 'ERR_CONFIG_SYNTAX', 3, 'description = "x"', 'unknown key in a door'),
  b('header with trailing comment is a directive', '[d] # c\n', 'ERR_CONFIG_SYNTAX', 1, 'must belong to a section'),
  b('header inside a door with trailing comment', '[d]\nsequence = 1\n[e] # c\n', 'ERR_CONFIG_SYNTAX', 3, '"[e] # c"', 'syntax error'),
  b('door without sequence', '[d]\ncommand = x\n', 'ERR_CONFIG_DOOR', 1, `[d]: section 'd' has an empty knock sequence`, 'spa = yes'),
  b('second door without sequence', '[a]\nsequence = 1\n[b]\n', 'ERR_CONFIG_DOOR', 3, `section 'b' has an empty knock sequence`),
  b('sequence port range', '[d]\nsequence = 7000,70000\n', 'ERR_CONFIG_VALUE', 2, '[d] sequence = "7000,70000"', 'out of range'),
  b('sequence protocol', '[d]\nsequence = 7000:icmp\n', 'ERR_CONFIG_VALUE', 2, 'unknown protocol "icmp"'),
  b('33 ports', `[d]\nsequence = ${Array.from({ length: 33 }, (_, i) => i + 1).join(',')}\n`, 'ERR_CONFIG_VALUE', 2, '33 items'),
  b('tcpflags with blank', '[d]\nsequence = 1\ntcpflags = syn, ack\n', 'ERR_CONFIG_VALUE', 3, 'tcpflags = "syn, ack"', 'unrecognized flag " ACK"', 'no blanks'),
  b('tcpflags trailing comma', '[d]\nsequence = 1\ntcpflags = syn,\n', 'ERR_CONFIG_VALUE', 3, 'unrecognized flag ""'),
  b('tcpflags empty', '[d]\nsequence = 1\ntcpflags =\n', 'ERR_CONFIG_VALUE', 3, 'unrecognized flag ""'),
  b('tcpflags ECE', '[d]\nsequence = 1\ntcpflags = ece\n', 'ERR_CONFIG_VALUE', 3, 'unrecognized flag "ECE"'),
  b('tcpflags ALL', '[d]\nsequence = 1\nTCPFlags = all\n', 'ERR_CONFIG_VALUE', 3, 'TCPFlags = "all"', 'unrecognized flag "ALL"'),
  // knockd accepts these with a surprising meaning: we refuse (compatibility decisions)
  b('trailing comma in sequence', '[d]\nsequence = 7000,8000,\n', 'ERR_CONFIG_VALUE', 2, 'sequence = "7000,8000,"', 'item 3 is empty', 'port 0'),
  b('negative port', '[d]\nsequence = -1\n', 'ERR_CONFIG_VALUE', 2, 'sequence = "-1"', '65535'),
  b('non-numeric port', '[d]\nsequence = 70x\n', 'ERR_CONFIG_VALUE', 2, 'knockd would read port 70'),
  b('7000/udp', '[d]\nsequence = 7000/udp\n', 'ERR_CONFIG_VALUE', 2, 'knockd would read port 7000'),
  b('port 0', '[d]\nsequence = 0\n', 'ERR_CONFIG_VALUE', 2, 'port 0'),
  b('third field', '[d]\nsequence = 7000:udp:junk\n', 'ERR_CONFIG_VALUE', 2, "more than one ':'"),
  b('empty sequence value', '[d]\nsequence =\n', 'ERR_CONFIG_VALUE', 2, 'sequence = ""', 'port 0/tcp'),
  b('[Options]', '[Options]\nlogfile = x\n', 'ERR_CONFIG_SYNTAX', 1, '[Options]', 'case-sensitively'),
  b('[OPTIONS]', '[d]\nsequence = 1\n[OPTIONS]\n', 'ERR_CONFIG_SYNTAX', 3, '[OPTIONS]'),
  b('[ options ]', '[ options ]\n', 'ERR_CONFIG_SYNTAX', 1, '[ options ]'),
  b('seq_timeout 12s', '[d]\nsequence = 1\nseq_timeout = 12s\n', 'ERR_CONFIG_VALUE', 3, '[d] seq_timeout = "12s"', 'not a decimal number', 'atoi'),
  b('seq_timeout negative', '[d]\nsequence = 1\nseq_timeout = -5\n', 'ERR_CONFIG_VALUE', 3, 'seq_timeout = "-5"'),
  b('timeout alias abc', '[d]\nsequence = 1\nTimeout = abc\n', 'ERR_CONFIG_VALUE', 3, 'Timeout = "abc"'),
  b('seq_timeout empty', '[d]\nsequence = 1\nseq_timeout =\n', 'ERR_CONFIG_VALUE', 3, 'seq_timeout = ""'),
  b('cmd_timeout huge', '[d]\nsequence = 1\ncmd_timeout = 2147484\n', 'ERR_CONFIG_VALUE', 3, 'cmd_timeout = "2147484"', 'out of range'),
  b('cmd_timeout hex', '[d]\nsequence = 1\ncmd_timeout = 0x10\n', 'ERR_CONFIG_VALUE', 3, 'cmd_timeout = "0x10"'),
  b('target hostname', '[d]\nsequence = 1\ntarget = localhost\n', 'ERR_CONFIG_VALUE', 3, 'target = "localhost"', 'compares', 'numeric'),
  b('target v4 leading zero', '[d]\nsequence = 1\ntarget = 010.0.0.1\n', 'ERR_CONFIG_VALUE', 3, 'target = "010.0.0.1"'),
  b('target v6 zone', '[d]\nsequence = 1\ntarget = fe80::1%eth0\n', 'ERR_CONFIG_VALUE', 3, 'target = "fe80::1%eth0"'),
  b('target empty', '[d]\nsequence = 1\ntarget =\n', 'ERR_CONFIG_VALUE', 3, 'target = ""'),
  b('line over 4095 bytes', `[d]\nsequence = 1\ncommand = ${'x'.repeat(4086)}\n`, 'ERR_CONFIG_SYNTAX', 3, '4096 bytes long', 'split'),
  b('line over 4095 bytes (multi-byte)', `[d]\nsequence = 1\ncommand = ${'é'.repeat(2043)}\n`, 'ERR_CONFIG_SYNTAX', 3, '4096 bytes long'),
  b('NUL byte', '[d]\nsequence = 1\ncommand = a\0b\n', 'ERR_CONFIG_SYNTAX', 3, 'NUL'),
  b('door name over 127 bytes', `[${'n'.repeat(128)}]\nsequence = 1\n`, 'ERR_CONFIG_SYNTAX', 1, '128 bytes long', 'truncate'),
  b('empty PidFile', '[options]\nPidFile =\n', 'ERR_CONFIG_VALUE', 2, 'PidFile = ""'),
  b('Interface too long', `[options]\nInterface = ${'i'.repeat(32)}\n`, 'ERR_CONFIG_VALUE', 2, 'longer than 31'),
  b('BOM not at the start', '[d]\nsequence = 1\n\uFEFFcommand = x\n', 'ERR_CONFIG_SYNTAX', 3, 'unknown key'),
  // one_time_sequences
  b('OTS file missing', '[d]\none_time_sequences = nope\n', 'ERR_OTS_FILE', 2, '[d] one_time_sequences = "nope"', '/cwd/nope: No such file or directory'),
  b('OTS empty value', '[d]\none_time_sequences =\n', 'ERR_CONFIG_VALUE', 2, 'one_time_sequences = ""', 'empty path'),
  b('OTS without valid line', '[d]\none_time_sequences = /none\n', 'ERR_OTS_FILE', 2, 'one_time_sequences = "/none"', "no valid sequence left", "door 'd'"),
  b('OTS with a surprising line', '[d]\none_time_sequences = /port0\n', 'ERR_OTS_FILE', 2, '/port0:2: "7000,,9000"', 'item 2 is empty', 'knockd would use it as 7000:tcp,0:tcp,9000:tcp'),
  // extensions
  b('SPAPort 0', '[options]\nSPAPort = 0\n', 'ERR_CONFIG_VALUE', 2, 'SPAPort = "0"', '1..65535'),
  b('SPAPort 65536', '[options]\nSPAPort = 65536\n', 'ERR_CONFIG_VALUE', 2, '1..65535'),
  b('SPAWindow 0', '[options]\nSPAWindow = 0\n', 'ERR_CONFIG_VALUE', 2, 'SPAWindow = "0"', '1..3600'),
  b('SPAWindow 3601', '[options]\nSPAWindow = 3601\n', 'ERR_CONFIG_VALUE', 2, '1..3600'),
  b('SPAWindow 60s', '[options]\nSPAWindow = 60s\n', 'ERR_CONFIG_VALUE', 2, 'not a decimal number'),
  b('SPAMode', '[options]\nSPAMode = udp\n', 'ERR_CONFIG_VALUE', 2, 'SPAMode = "udp"', 'pcap or socket'),
  b('SPAAddress host', '[options]\nSPAAddress = 192.0.2.1,example.org\n', 'ERR_CONFIG_VALUE', 2, 'item 2 "example.org"'),
  b('SPAAddress empty item', '[options]\nSPAAddress = 192.0.2.1,\n', 'ERR_CONFIG_VALUE', 2, 'item 2 is empty'),
  b('CloseOnExit', '[options]\nCloseOnExit = true\n', 'ERR_CONFIG_VALUE', 2, 'CloseOnExit = "true"', 'yes or no'),
  b('MaxAttempts 0', '[options]\nMaxAttempts = 0\n', 'ERR_CONFIG_VALUE', 2, '1..10000000'),
  b('MaxAttempts too big', '[options]\nMaxAttempts = 10000001\n', 'ERR_CONFIG_VALUE', 2, '1..10000000'),
  b('KeysDir empty', '[options]\nKeysDir =\n', 'ERR_CONFIG_VALUE', 2, 'KeysDir = ""', 'empty path'),
  b('spa value', '[d]\nsequence = 1\nspa = on\n', 'ERR_CONFIG_VALUE', 3, 'spa = "on"', 'yes or no'),
  b('ports invalid', '[d]\nsequence = 1\nports = 22,\n', 'ERR_CONFIG_VALUE', 3, 'ports = "22,"', 'item 2 is empty'),
  b('spa door name', '[open ssh]\nspa = yes\n', 'ERR_CONFIG_DOOR', 1, '[open ssh]', 'SPA door name'),
  b('spa door name too long', `[${'a'.repeat(33)}]\nspa = yes\n`, 'ERR_CONFIG_DOOR', 1, 'SPA door name'),
  b('spa door names unique', '[ssh]\nspa = yes\n[x]\nsequence = 1\n[ssh]\nspa = yes\n', 'ERR_CONFIG_DOOR', 5, "a second SPA door named 'ssh' (first at line 1)"),
];

test('invalid configs → AppError with code, file:line, section, key and value', () => {
  const env = memEnv({ '/none': '# x\n 70000\n 1:icmp\n', '/port0': '#used\n 7000,,9000\n 8000\n' });
  for (const t of INVALID) {
    let err: unknown;
    try { parseConfig(t.text, FILE, env); } catch (e) { err = e; }
    assert.ok(isAppError(err), `${t.name}: expected an AppError, got ${String(err)}`);
    assert.equal(err.code, t.code, `${t.name}: ${err.message}`);
    assert.ok(err.message.startsWith(`${FILE}:${t.line}: `), `${t.name}: ${err.message}`);
    for (const h of t.has) assert.ok(err.message.includes(h), `${t.name}: ${JSON.stringify(h)} not in ${err.message}`);
  }
});

test('the first error wins', () => {
  assert.throws(() => parse('[d]\nsequence = 0\ntcpflags = x\n'), (e: unknown) => isAppError(e) && e.message.startsWith('test.conf:2:'));
});

test('one_time_sequences: skipped lines become warnings naming file:line; path handed to readOts', () => {
  const env = memEnv({ '/cwd/s': '\n# c\n 70000,1\n 1:icmp\n 5001,5002:udp\n 6000\n' });
  const c = parseConfig('[d]\none_time_sequences = s\n[e]\none_time_sequences = /cwd/s\n', FILE, env);
  assert.deepEqual(env.reads, ['/cwd/s', '/cwd/s']);
  assert.deepEqual(c.doors.map((d) => formatSequence(d.sequence)), ['5001:tcp,5002:udp', '5001:tcp,5002:udp']);
  assert.equal(c.warnings.length, 4);
  assert.match(c.warnings[0] ?? '', /^\/cwd\/s:3: "70000,1": skipped invalid sequence for door 'd': .*out of range/);
  assert.match(c.warnings[1] ?? '', /^\/cwd\/s:4: "1:icmp": skipped .*unknown protocol/);
  assert.match(c.warnings[2] ?? '', /^\/cwd\/s:3: .*door 'e'/);
});

test('the knockd man page examples parse with the documented meaning', () => {
  const ex1 = parse([
    '[options]', '\tlogfile = /var/log/knockd.log', '', '[openSSH]', '\tsequence    = 7000,8000,9000', '\tseq_timeout = 10',
    '\ttcpflags    = syn', '\tcommand     = /sbin/iptables -A INPUT -s %IP% --dport 22 -j ACCEPT', '',
    '[closeSSH]', '\tsequence    = 9000,8000,7000', '\tseq_timeout = 10', '\ttcpflags    = syn',
    '\tcommand     = /sbin/iptables -D INPUT -s %IP% --dport 22 -j ACCEPT', '',
  ].join('\n'));
  assert.equal(ex1.options.logFile, '/var/log/knockd.log');
  assert.deepEqual(doors(ex1), [
    '[openSSH]@4 7000:tcp,8000:tcp,9000:tcp st=10 ct=10 f=syn start="/sbin/iptables -A INPUT -s %IP% --dport 22 -j ACCEPT"',
    '[closeSSH]@10 9000:tcp,8000:tcp,7000:tcp st=10 ct=10 f=syn start="/sbin/iptables -D INPUT -s %IP% --dport 22 -j ACCEPT"',
  ]);
  const ex3 = parse('[options]\n\tlogfile = /var/log/knockd.log\n\n[opencloseSMTP]\n\tone_time_sequences = /etc/knockd/smtp_sequences\n' +
    '\tseq_timeout        = 15\n\ttcpflags           = fin,!ack\n\tstart_command      = A %IP%\n\tcmd_timeout        = 5\n\tstop_command       = D %IP%\n\t\n',
  { '/etc/knockd/smtp_sequences': ' 2001,2002:udp,2003\n 3001,3002\n' });
  assert.deepEqual(doors(ex3), ['[opencloseSMTP]@4 2001:tcp,2002:udp,2003:tcp st=15 ct=5 f=fin,!ack start="A %IP%" stop="D %IP%" ots=/etc/knockd/smtp_sequences']);
});
