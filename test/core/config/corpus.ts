/**
 * The config fixture corpus (test/fixtures/config/*.conf) with what knockd 0.8 does with each
 * file and what we do. Used by the oracle test (which checks the `knockd` column against the
 * real binary) and by the read-config tests (which check the `ours` column).
 *
 * kind:
 *  - compatible: knockd and we agree (both accept with the same meaning, or both reject)
 *  - surprise:   knockd accepts with a surprising meaning; we refuse (docs/ARCHITECTURE.md)
 *  - decided:    knockd rejects, we accept by an explicit decision (UTF-8 BOM)
 *  - extension:  uses our extension keys; knockd rejects them
 */
import { basename, join, resolve } from 'node:path';
import type { ErrorCode } from '../../../src/core/errors.js';
import type { ParseEnv } from '../../../src/core/config/parse.js';
import { fsParseEnv } from '../../../src/io/read-config.js';
import { fixture } from '../../helpers/paths.js';

export type Kind = 'compatible' | 'surprise' | 'decided' | 'extension';
export interface CorpusEntry {
  readonly kind: Kind;
  readonly knockd: 'accept' | 'reject';
  /** 'accept', or the error code we throw plus substrings the message must contain. */
  readonly ours: 'accept' | { readonly code: ErrorCode; readonly line: number; readonly msg: readonly string[] };
}

const acc = (kind: Kind = 'compatible'): CorpusEntry => ({ kind, knockd: 'accept', ours: 'accept' });
const surprise = (code: ErrorCode, line: number, ...msg: string[]): CorpusEntry =>
  ({ kind: 'surprise', knockd: 'accept', ours: { code, line, msg } });
const rej = (code: ErrorCode, line: number, ...msg: string[]): CorpusEntry =>
  ({ kind: 'compatible', knockd: 'reject', ours: { code, line, msg } });

export const CORPUS: Readonly<Record<string, CorpusEntry>> = {
  'debian-default.conf': acc(),
  'man-example1.conf': acc(),
  'man-example2.conf': acc(),
  'man-example3.conf': acc(),
  'man-example4.conf': acc(),
  'ok-blank-items.conf': acc(),
  'ok-case-keys.conf': acc(),
  'ok-crlf.conf': acc(),
  'ok-door-names.conf': acc(),
  'ok-duplicate-doors.conf': acc(),
  'ok-empty-commands.conf': acc(),
  'ok-empty-file.conf': acc(),
  'ok-equals-in-value.conf': acc(),
  'ok-inline-hash.conf': acc(),
  'ok-interface-twice.conf': acc(),
  'ok-logfile-empty.conf': acc(),
  'ok-long-line-4095.conf': acc(),
  'ok-max32.conf': acc(),
  'ok-only-options.conf': acc(),
  'ok-ots-override.conf': acc(),
  'ok-ots-skip.conf': acc(),
  'ok-ots-two-doors.conf': acc(),
  'ok-repeats.conf': acc(),
  'ok-target.conf': acc(),
  'ok-tcpflags-accumulate.conf': acc(),
  'ok-usesyslog-in-door.conf': acc(),

  'surprise-trailing-comma.conf': surprise('ERR_CONFIG_VALUE', 2, 'sequence = "7000,8000,"', 'item 3 is empty', 'port 0'),
  'surprise-empty-item.conf': surprise('ERR_CONFIG_VALUE', 2, 'sequence = "7000,,8000"', 'item 2 is empty'),
  'surprise-negative-port.conf': surprise('ERR_CONFIG_VALUE', 2, 'sequence = "7000,-1"', 'knockd would read port 65535'),
  'surprise-port-junk.conf': surprise('ERR_CONFIG_VALUE', 2, 'sequence = "70x,8000"', 'knockd would read port 70'),
  'surprise-port-slash.conf': surprise('ERR_CONFIG_VALUE', 2, 'sequence = "7000/udp,8000"', 'knockd would read port 7000'),
  'surprise-port-zero.conf': surprise('ERR_CONFIG_VALUE', 2, 'sequence = "0,8000"', 'port 0'),
  'surprise-port-plus.conf': surprise('ERR_CONFIG_VALUE', 2, 'sequence = "+7000,8000"', 'not a decimal number'),
  'surprise-port-wrap.conf': surprise('ERR_CONFIG_VALUE', 2, 'sequence = "4294973296"', 'out of range'),
  'surprise-third-field.conf': surprise('ERR_CONFIG_VALUE', 2, 'sequence = "7000:udp:junk"', 'third field'),
  'surprise-sequence-empty.conf': surprise('ERR_CONFIG_VALUE', 2, 'sequence = ""', 'empty knock sequence'),
  'surprise-options-case.conf': surprise('ERR_CONFIG_SYNTAX', 1, '[Options]', 'not exactly "options"'),
  'surprise-options-space.conf': surprise('ERR_CONFIG_SYNTAX', 1, '[options ]', 'not exactly "options"'),
  'surprise-seq-timeout-suffix.conf': surprise('ERR_CONFIG_VALUE', 3, '[door] seq_timeout = "12s"', 'not a decimal number'),
  'surprise-seq-timeout-negative.conf': surprise('ERR_CONFIG_VALUE', 3, 'seq_timeout = "-5"', 'not a decimal number'),
  'surprise-seq-timeout-inline-comment.conf': surprise('ERR_CONFIG_VALUE', 3, 'seq_timeout = "5 # seconds"', 'not a decimal number'),
  'surprise-cmd-timeout-empty.conf': surprise('ERR_CONFIG_VALUE', 3, 'cmd_timeout = ""', 'not a decimal number'),
  'surprise-cmd-timeout-huge.conf': surprise('ERR_CONFIG_VALUE', 3, 'cmd_timeout = "4294967297"', 'out of range'),
  'surprise-target-hostname.conf': surprise('ERR_CONFIG_VALUE', 3, 'target = "localhost"', 'numeric', 'compares'),
  'surprise-target-empty.conf': surprise('ERR_CONFIG_VALUE', 3, 'target = ""', 'numeric'),
  'surprise-door-name-long.conf': surprise('ERR_CONFIG_SYNTAX', 1, 'door name is 130 bytes', 'truncate'),
  'surprise-pidfile-empty.conf': surprise('ERR_CONFIG_VALUE', 2, '[options] pidfile = ""', 'empty pid file'),
  'surprise-interface-long.conf': surprise('ERR_CONFIG_VALUE', 2, 'interface = "iiii', 'longer than 31'),
  'surprise-ots-port0.conf': surprise('ERR_OTS_FILE', 2, 'one_time_sequences = "ots/port0_sequences"', 'port0_sequences:1', 'item 2 is empty', 'knockd would use it as 7000:tcp,0:tcp,9000:tcp'),
  'surprise-long-line-split.conf': surprise('ERR_CONFIG_SYNTAX', 3, 'bytes long', 'split'),

  'bad-33-ports.conf': rej('ERR_CONFIG_VALUE', 2, 'sequence = "1000,', '33 items'),
  'bad-before-section.conf': rej('ERR_CONFIG_SYNTAX', 1, '"sequence = 7000"', 'must belong to a section'),
  'bad-door-key-in-options.conf': rej('ERR_CONFIG_SYNTAX', 2, '[options] sequence = "7000"', 'belongs in a door'),
  'bad-empty-door.conf': rej('ERR_CONFIG_DOOR', 1, '[door]', "section 'door' has an empty knock sequence"),
  'bad-empty-section.conf': rej('ERR_CONFIG_SYNTAX', 1, '"[]"', 'bad section name'),
  'bad-header-comment.conf': rej('ERR_CONFIG_SYNTAX', 1, 'must belong to a section'),
  'bad-long-line.conf': rej('ERR_CONFIG_SYNTAX', 3, 'bytes long'),
  'bad-no-equals.conf': rej('ERR_CONFIG_SYNTAX', 2, '[door] "sequence 7000"', 'syntax error'),
  'bad-option-key-in-door.conf': rej('ERR_CONFIG_SYNTAX', 3, '[door] logfile = "/tmp/x"', 'belongs in [options]'),
  'bad-ots-missing.conf': rej('ERR_OTS_FILE', 2, 'one_time_sequences = "ots/does_not_exist"', 'No such file or directory'),
  'bad-ots-none.conf': rej('ERR_OTS_FILE', 2, 'one_time_sequences = "ots/none_sequences"', 'no valid sequence'),
  'bad-port-range.conf': rej('ERR_CONFIG_VALUE', 2, 'sequence = "7000,70000"', 'out of range'),
  'bad-proto.conf': rej('ERR_CONFIG_VALUE', 2, 'sequence = "7000:icmp"', 'unknown protocol "icmp"'),
  'bad-proto-empty.conf': rej('ERR_CONFIG_VALUE', 2, 'sequence = "7000:"', 'unknown protocol ""'),
  'bad-semicolon-comment.conf': rej('ERR_CONFIG_SYNTAX', 3, '"; a comment?"', "';' does not start a comment"),
  'bad-tcpflags-blank.conf': rej('ERR_CONFIG_VALUE', 3, 'tcpflags = "syn, ack"', 'unrecognized flag " ACK"'),
  'bad-tcpflags-ece.conf': rej('ERR_CONFIG_VALUE', 3, 'tcpflags = "ece"', 'unrecognized flag "ECE"'),
  'bad-tcpflags-trailing.conf': rej('ERR_CONFIG_VALUE', 3, 'tcpflags = "syn,"', 'unrecognized flag ""'),
  'bad-unclosed-header.conf': rej('ERR_CONFIG_SYNTAX', 1, '"[door"', 'must belong to a section'),
  'bad-unknown-option.conf': rej('ERR_CONFIG_SYNTAX', 2, '[options] foo = "bar"', 'unknown key'),
  'bad-usesyslog-value.conf': rej('ERR_CONFIG_SYNTAX', 2, 'UseSyslog = "yes"', 'bare "UseSyslog"'),

  'decided-bom.conf': { kind: 'decided', knockd: 'reject', ours: 'accept' },
  'ext-spa.conf': { kind: 'extension', knockd: 'reject', ours: 'accept' },
};

/** Relative paths resolve against the fixture directory; OTS files come from fixtures/config/ots by base name. */
export function corpusEnv(dir = fixture('config')): ParseEnv {
  return {
    resolvePath: (p: string) => resolve(dir, p),
    readOts: (p: string) => fsParseEnv.readOts(join(fixture('config', 'ots'), basename(p))),
  };
}
