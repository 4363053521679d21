/** flagsMatch: knockd flags_match() (§1.5). Flag bytes as on the wire (TCP header byte 13). */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { flagMasks, flagsMatch } from '../../../src/core/knock/flags.js';
import { door, flags, pkt } from './util.js';

const rows: Array<[string, string | undefined, string, number, boolean]> = [
  // id, tcpflags spec (undefined = none), hit, flag byte, match?
  ['T01', undefined, '7000', 0x00, true],
  ['T02', undefined, '7000', 0xff, true],
  ['T03', 'syn', '7000', 0x02, true],
  ['T04', 'syn', '7000', 0x12, true],          // SYN+ACK matches syn (R02 g)
  ['T05', 'syn', '7000', 0x10, false],         // bare ACK
  ['T06', 'syn', '7000', 0x00, false],
  ['T07', 'syn,!ack', '7000', 0x02, true],
  ['T08', 'syn,!ack', '7000', 0x12, false],
  ['T09', '!fin,!rst,!psh,!urg', '7000', 0x02, true],
  ['T10', '!fin,!rst,!psh,!urg', '7000', 0x03, false],   // FIN set
  ['T11', '!fin,!rst,!psh,!urg', '7000', 0x22, false],   // URG set
  ['T12', 'fin,psh,urg', '7000', 0x29, true],            // xmas-ish
  ['T13', 'fin,psh,urg', '7000', 0x28, false],
  ['T14', 'rst', '7000', 0x04, true],
  ['T15', 'syn', '7000', 0xc2, true],          // ECE/CWR bits are ignored
  ['T16', 'syn,!ack', '7000/udp', 0x00, true], // UDP always matches (V22)
];

for (const [id, spec, hit, bits, want] of rows) {
  test(`${id} flagsMatch ${spec ?? '(none)'} vs ${hit} flags 0x${bits.toString(16).padStart(2, '0')} -> ${want}`, () => {
    const d = door('A', hit, spec === undefined ? {} : { tcpFlags: flags(spec) });
    assert.equal(flagsMatch(d, pkt('1.1.1.1', hit, { flags: bits })), want);
  });
}

test('T17 later token wins / masks: syn,!syn is NOT_SET; masks are disjoint bit sets', () => {
  assert.deepEqual(flagMasks(door('A', '1', { tcpFlags: { syn: false } })), { set: 0, clear: 0x02 });
  assert.deepEqual(flagMasks(door('A', '1', { tcpFlags: flags('fin,syn,rst,psh,ack,urg') })), { set: 0x3f, clear: 0 });
  assert.deepEqual(flagMasks(door('A', '1', { tcpFlags: flags('!fin,!syn,!rst,!psh,!ack,!urg') })), { set: 0, clear: 0x3f });
});
