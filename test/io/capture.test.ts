import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { openCapture } from '../../src/io/capture.js';
import { isAppError } from '../../src/core/errors.js';
import { fixture } from '../helpers/paths.js';

const isRoot = typeof process.getuid === 'function' && process.getuid() === 0;
const haveIp = spawnSync('ip', ['-V']).status === 0;
const haveValgrind = spawnSync('valgrind', ['--version']).status === 0;
const captureJs = fileURLToPath(new URL('../../src/io/capture.js', import.meta.url));

test('openCapture on a device that does not exist throws ERR_CAPTURE naming it', () => {
  assert.throws(
    () => openCapture({ iface: 'h2-nosuchdev', filter: '', onPacket() {}, onError() {} }),
    (e: unknown) => isAppError(e) && e.code === 'ERR_CAPTURE' && e.message.startsWith('could not open h2-nosuchdev: '),
  );
});

test('openCapture refuses an unusable buffer size', () => {
  assert.throws(
    () => openCapture({ iface: 'lo', filter: '', bufferSize: 10, onPacket() {}, onError() {} }),
    (e: unknown) => isAppError(e) && e.code === 'ERR_CAPTURE' && /buffer size 10/.test(e.message),
  );
});

interface ChildPacket { phase: string; family: number; src: string; dst: string; proto: string; dstPort: number; tcpFlags: number; payload: string; srcBytes: number; rxOk: boolean }
interface ChildOut {
  iface: string; linkType: string; packets: ChildPacket[]; errors: string[];
  badFilter: { code: string; message: string } | 'opened';
  phases: Record<'first' | 'second' | 'closed', { frames: number; decoded: number; dropped: number }>;
}

function inNetns(iface: string): ChildOut {
  const ns = `h2cap${process.pid}${iface === 'any' ? 'a' : 'l'}`;
  const run = (...args: string[]) => {
    const r = spawnSync('ip', args, { encoding: 'utf8' });
    assert.equal(r.status, 0, `ip ${args.join(' ')}: ${r.stderr}`);
    return r.stdout;
  };
  run('netns', 'add', ns);
  try {
    run('-n', ns, 'link', 'set', 'lo', 'up');
    // house rule: the namespace is isolated (only lo, no default route)
    assert.equal(run('-n', ns, 'route', 'show', 'default').trim(), '');
    assert.equal(run('-n', ns, '-o', 'link', 'show').trim().split('\n').length, 1);
    const r = spawnSync('ip', ['netns', 'exec', ns, process.execPath, '--expose-gc', fixture('frames', 'capture-child.mjs'), captureJs, iface],
      { encoding: 'utf8', timeout: 30_000 });
    assert.equal(r.status, 0, `child failed (status ${String(r.status)}, signal ${String(r.signal)}): ${r.stderr}`);
    const line = r.stdout.trim().split('\n').pop() ?? '';
    return JSON.parse(line) as ChildOut;
  } finally {
    spawnSync('ip', ['netns', 'del', ns]);
  }
}

for (const iface of ['lo', 'any']) {
  test(`live capture in a private netns on ${iface}: decode v4/v6 TCP SYN and UDP, setFilter, close`, (t) => {
    if (!isRoot || !haveIp) { t.skip('needs root and iproute2 (ip netns)'); return; }
    const out = inNetns(iface);
    assert.equal(out.linkType, iface === 'lo' ? 'ETHERNET' : 'LINUX_SLL');

    // a rejected filter is an ERR_CAPTURE and the process survived gc() of the failed handle
    assert.ok(out.badFilter !== 'opened');
    assert.equal(out.badFilter.code, 'ERR_CAPTURE');
    assert.match(out.badFilter.message, new RegExp(`^could not open ${iface}: `));

    const first = out.packets.filter((p) => p.phase === 'first').map(({ phase: _p, ...rest }) => rest);
    const key = (p: { family: number; proto: string }) => `${p.family}${p.proto}`;
    first.sort((a, b) => key(a).localeCompare(key(b)));
    assert.deepEqual(first, [
      { family: 4, src: '127.0.0.1', dst: '127.0.0.1', proto: 'tcp', dstPort: 7000, tcpFlags: 0x02, payload: '', srcBytes: 4, rxOk: true },
      { family: 4, src: '127.0.0.1', dst: '127.0.0.1', proto: 'udp', dstPort: 8000, tcpFlags: 0, payload: 'hello-v4', srcBytes: 4, rxOk: true },
      { family: 6, src: '::1', dst: '::1', proto: 'tcp', dstPort: 7000, tcpFlags: 0x02, payload: '', srcBytes: 16, rxOk: true },
      { family: 6, src: '::1', dst: '::1', proto: 'udp', dstPort: 8000, tcpFlags: 0, payload: 'hello-v6', srcBytes: 16, rxOk: true },
    ]);
    // the three packets whose handler threw were counted as dropped and reported (rate-limited)
    assert.equal(out.phases.first.dropped, 3);
    assert.ok(out.errors.length >= 1 && out.errors.length <= 3, JSON.stringify(out.errors));
    assert.match(out.errors[0] ?? '', /handler exploded/);
    // 4 good + 3 exploding; udp 8001 was outside the filter
    assert.equal(out.phases.first.frames, 7);
    assert.equal(out.phases.first.decoded, 7);

    const second = out.packets.filter((p) => p.phase === 'second').map((p) => p.payload);
    assert.deepEqual(second, ['new-filter']);
    assert.equal(out.phases.closed.frames, out.phases.second.frames, 'nothing delivered after close');
  });
}

test('filter swaps never let the GC free a capture handle (valgrind: no invalid read or write in libuv)', { timeout: 300_000 }, (t) => {
  if (!isRoot || !haveIp) { t.skip('needs root and iproute2 (ip netns)'); return; }
  if (!haveValgrind) { t.skip('valgrind is not installed'); return; }
  const ns = `kcchurn${process.pid}`;
  assert.equal(spawnSync('ip', ['netns', 'add', ns]).status, 0);
  try {
    assert.equal(spawnSync('ip', ['-n', ns, 'link', 'set', 'lo', 'up']).status, 0);
    const r = spawnSync('ip', ['netns', 'exec', ns, 'valgrind', '--error-limit=no', process.execPath, '--expose-gc', '--jitless',
      fixture('frames', 'capture-churn.mjs'), captureJs, '30'], { encoding: 'utf8', timeout: 280_000 });
    assert.equal(r.status, 0, `child failed (status ${String(r.status)}, signal ${String(r.signal)}): ${r.stderr.slice(-2000)}`);
    const invalid = r.stderr.split('\n').filter((l) => /Invalid (read|write)|Invalid free/.test(l));
    assert.deepEqual(invalid, [], 'valgrind found use of freed memory');
    const out = JSON.parse(r.stdout.trim().split('\n').pop() ?? '{}') as { got: number; kept: number };
    assert.ok(out.got >= 25, `packets kept arriving through the swaps (${out.got}/30)`);
    assert.equal(out.kept, 31, 'every handle (1 + 30 swaps) is kept referenced');
  } finally {
    spawnSync('ip', ['netns', 'del', ns]);
  }
});
