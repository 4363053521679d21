import { test } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import dgram from 'node:dgram';
import { mkdtempSync, writeFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { tcpHit, udpHit, resolve, numericService, serviceByName, ResolveError } from '../../src/io/send.js';

// glibc 2.36 getaddrinfo(service) facts, checked against Python's socket.getaddrinfo on Debian 12
const numeric: [string, number | undefined][] = [
  ['22', 22], ['0', 0], ['', 0], ['065', 65], ['+5', 5], [' 5', 5], ['\t5', 5], ['-0', 0],
  ['65535', 65535], ['65536', 0], ['70000', 4464], ['2147483647', 65535], ['4294967296', 0], ['4294967297', 1],
  ['-4294967295', 1],
  // int overflow to negative, or ERANGE -> rejected as a number (then looked up as a name)
  ['2147483648', undefined], ['4294967295', undefined], ['6442450944', undefined], ['18446744073709551615', undefined],
  ['99999999999999999999', undefined], ['-5', undefined],
  // not fully consumed
  ['5 ', undefined], [' ', undefined], ['+', undefined], ['-', undefined], ['0x10', undefined], ['5a', undefined], ['ssh', undefined],
];
for (const [text, want] of numeric) {
  test(`numericService(${JSON.stringify(text)}) = ${want}`, () => {
    assert.equal(numericService(text), want);
  });
}

test('serviceByName: tcp before udp, aliases, case-sensitive, comments', () => {
  const dir = mkdtempSync(join(tmpdir(), 'h6svc-'));
  try {
    const f = join(dir, 'services');
    writeFileSync(f, [
      '# comment line',
      'onlyudp\t\t5001/udp',
      'both\t\t5002/udp',
      'both\t\t5003/tcp\t\talias1 alias2  # trailing comment',
      'weird\t\tx/tcp',
      'big\t\t70000/tcp',
      'sctponly\t5004/sctp',
      '',
    ].join('\n'));
    assert.equal(serviceByName('onlyudp', f), 5001);
    assert.equal(serviceByName('both', f), 5003, 'tcp entry wins');
    assert.equal(serviceByName('alias2', f), 5003);
    assert.equal(serviceByName('BOTH', f), undefined);
    assert.equal(serviceByName('weird', f), undefined);
    assert.equal(serviceByName('big', f), undefined);
    assert.equal(serviceByName('sctponly', f), 5004);
    assert.equal(serviceByName('comment', f), undefined);
    assert.equal(serviceByName('trailing', f), undefined);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('resolve: literals, family mismatch, service errors, knock message text', async () => {
  assert.deepEqual(await resolve('127.0.0.1', undefined, '70000'), { address: '127.0.0.1', family: 4, port: 4464 });
  assert.deepEqual(await resolve('::1', 6, '7'), { address: '::1', family: 6, port: 7 });
  assert.deepEqual(await resolve('127.0.0.1', 4, ''), { address: '127.0.0.1', family: 4, port: 0 });
  const cases: [string, 4 | 6 | undefined, string, string, string][] = [
    ['127.0.0.1', 6, '1', "Failed to resolve hostname '127.0.0.1' on port 1", 'Address family for hostname not supported'],
    ['::1', 4, '1', "Failed to resolve hostname '::1' on port 1", 'Address family for hostname not supported'],
    ['127.0.0.1', undefined, 'no-such-service-h6', "Failed to resolve hostname '127.0.0.1' on port no-such-service-h6", 'Servname not supported for ai_socktype'],
    ['127.0.0.1', undefined, '-5', "Failed to resolve hostname '127.0.0.1' on port -5", 'Servname not supported for ai_socktype'],
    ['no-such-host.invalid', undefined, '1', "Failed to resolve hostname 'no-such-host.invalid' on port 1", 'Name or service not known'],
  ];
  for (const [host, fam, svc, msg, detail] of cases) {
    await assert.rejects(resolve(host, fam, svc), (e: unknown) => {
      assert.ok(e instanceof ResolveError);
      assert.equal(e.code, 'ERR_RESOLVE');
      assert.equal(e.message, msg);
      assert.equal(e.detail, detail);
      return true;
    });
  }
});

test('resolve: names through getaddrinfo (localhost) and /etc/services names', async () => {
  const r = await resolve('localhost', 4, '1');
  assert.equal(r.family, 4);
  assert.match(r.address, /^127\./);
  const s = serviceByName('ssh');
  if (s === undefined) return; // no ssh entry in this /etc/services: nothing to compare
  assert.equal((await resolve('127.0.0.1', undefined, 'ssh')).port, s);
});

test('udpHit sends exactly one datagram of one 0x00 byte (loopback v4)', async () => {
  const rx = dgram.createSocket('udp4');
  await new Promise<void>((r) => rx.bind(0, '127.0.0.1', () => r()));
  const port = rx.address().port;
  const got: Buffer[] = [];
  rx.on('message', (m) => got.push(m));
  try {
    await udpHit('127.0.0.1', 4, port);
    await udpHit('127.0.0.1', 4, port, Buffer.from('abc'));
    for (let i = 0; i < 100 && got.length < 2; i++) await new Promise((r) => setTimeout(r, 10));
    assert.deepEqual(got.map((b) => b.toString('hex')), ['00', '616263']);
  } finally {
    rx.close();
  }
});

test('tcpHit reaches a listener once and never rejects (closed port, port 0)', async () => {
  let conns = 0;
  const srv = net.createServer((s) => { conns++; s.on('error', () => {}); s.destroy(); });
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', () => r()));
  const port = (srv.address() as net.AddressInfo).port;
  try {
    await tcpHit('127.0.0.1', 4, port);
    for (let i = 0; i < 100 && conns < 1; i++) await new Promise((r) => setTimeout(r, 10));
    await new Promise((r) => setTimeout(r, 50));
    assert.equal(conns, 1);
  } finally {
    await new Promise<void>((r) => srv.close(() => r()));
  }
  // the same port is closed now: the RST is ignored
  await tcpHit('127.0.0.1', 4, port);
  await tcpHit('127.0.0.1', 4, 0);
  await udpHit('127.0.0.1', 4, 0);
});
