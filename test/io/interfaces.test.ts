import { test } from 'node:test';
import assert from 'node:assert/strict';
import { networkInterfaces } from 'node:os';
import type { NetworkInterfaceInfo } from 'node:os';
import { localAddresses } from '../../src/io/interfaces.js';

function info(address: string, scopeid?: number): NetworkInterfaceInfo {
  const v6 = address.includes(':');
  const base = { address, netmask: v6 ? 'ffff:ffff:ffff:ffff::' : '255.255.255.0', mac: '02:00:00:00:00:01', internal: false, cidr: null };
  return v6 ? { ...base, family: 'IPv6', scopeid: scopeid ?? 0 } : { ...base, family: 'IPv4' };
}

const TABLE: NodeJS.Dict<NetworkInterfaceInfo[]> = {
  lo: [info('127.0.0.1'), info('::1')],
  eth0: [info('192.0.2.10'), info('fe80::1%eth0', 2), info('2001:DB8:0::10'), info('192.0.2.11')],
  eth1: [info('198.51.100.1'), info('fe80::1', 3)],
  weird: [info('not-an-address')],
  empty: undefined,
};

test('localAddresses: table-driven', () => {
  const cases: [string, boolean, string[]][] = [
    ['eth0', true, ['192.0.2.10', '192.0.2.11', 'fe80::1', '2001:db8::10']],
    ['eth0', false, ['192.0.2.10', '192.0.2.11']],
    ['lo', true, ['127.0.0.1', '::1']],
    ['eth1', true, ['198.51.100.1', 'fe80::1']],
    ['eth', true, []],
    ['weird', true, []],
    ['empty', true, []],
    ['nosuch', true, []],
    // knockd's -i any bug fixed: every interface, duplicates (fe80::1 on two links) once
    ['any', true, ['127.0.0.1', '192.0.2.10', '192.0.2.11', '198.51.100.1', '::1', 'fe80::1', '2001:db8::10']],
    ['any', false, ['127.0.0.1', '192.0.2.10', '192.0.2.11', '198.51.100.1']],
  ];
  for (const [iface, v6, want] of cases) assert.deepEqual(localAddresses(iface, v6, TABLE), want, `${iface} ipv6=${String(v6)}`);
});

test('localAddresses on this host: lo has 127.0.0.1, any includes every interface address', () => {
  const real = networkInterfaces();
  assert.ok(localAddresses('lo', false).includes('127.0.0.1'));
  const any = localAddresses('any', true);
  for (const name of Object.keys(real)) {
    for (const a of localAddresses(name, true)) assert.ok(any.includes(a), `${name} ${a} in any`);
  }
  for (const a of any) assert.ok(!a.includes('%'), 'no zone ids');
});
