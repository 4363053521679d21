/**
 * nftables set doors, pure: every transition of an nft lease, driven by hand with an explicit
 * clock. Effects are asserted as data (the nft lines of each batch, what the audit log
 * receives, that nothing is journalled), from grant to expiry, revocation and restore.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { NftDoors, NFT_CLOSE_CHUNK } from '../../../src/core/engine/nft-doors.js';
import type { GrantRequest } from '../../../src/core/engine/slots.js';
import type { Effect, NftResult } from '../../../src/core/engine/effects.js';
import type { Door } from '../../../src/core/config/types.js';
import { nftTarget, type NftTarget } from '../../../src/core/firewall/nft.js';
import type { NftListedElement } from '../../../src/core/firewall/nft-list.js';
import { parseIp } from '../../../src/core/ip.js';

const T0 = 1_700_000_000_000;
const OK: NftResult = { ok: true };
const REFUSED: NftResult = { ok: false, error: 'Error: Could not process rule: No such file or directory\nadd element inet knockd ssh4 { ... }\n^^^' };
const LOST: NftResult = { ok: false, error: 'nft exited', unknown: true };
const SET4 = { family: 'inet', table: 'knockd', set: 'ssh4' } as const;

function door(p: Partial<Door> = {}): Door {
  return {
    name: 'ssh', line: 1, sequence: [], seqTimeout: 25, tcpFlags: {}, spa: true, cmdTimeout: 10, ports: [{ port: 22, proto: 'tcp' }],
    nft: { set4: SET4, set6: { family: 'inet', table: 'knockd', set: 'ssh6' }, element: 'addr' }, ...p,
  };
}
function req(ip = '10.0.0.2', p: Partial<GrantRequest> = {}): GrantRequest {
  const a = parseIp(ip);
  assert.ok(a);
  return { doorIndex: 0, door: door(), ip: a, src: a.text, principal: { kind: 'spa', key: 'alice', keyId: 'ab'.repeat(8) }, grantedTtl: 10, lane: 'auth', ...p };
}
type NftFx = Extract<Effect, { kind: 'nft' }>;
const nfts = (fx: Effect[]): NftFx[] => fx.filter((e): e is NftFx => e.kind === 'nft');
const nft1 = (fx: Effect[]): NftFx => { const r = nfts(fx); assert.equal(r.length, 1, JSON.stringify(fx)); return r[0] as NftFx; };
const audits = (fx: Effect[], name?: string) => fx.flatMap((e) => (e.kind === 'audit' && (!name || e.event.event === name) ? [e.event as unknown as Record<string, unknown>] : []));
const kinds = (fx: Effect[]) => [...new Set(fx.map((e) => e.kind))].sort();

test('1 grant → one batch (add; delete; add) with the granted timeout and the owner comment, no journal; open; expiry → door.close without a command', () => {
  const m = new NftDoors();
  let fx = m.grant(req(), T0);
  const b = nft1(fx);
  assert.equal(fx.some((e) => e.kind === 'journal' || e.kind === 'run'), false, 'nothing journalled, nothing run');
  const lease = m.leases()[0]?.lease.id as string;
  const el = `10.0.0.2 timeout 10s comment "knockd lease=${lease} key=alice"`;
  assert.deepEqual(b.lines, [`add element inet knockd ssh4 { ${el} }`, 'delete element inet knockd ssh4 { 10.0.0.2 }', `add element inet knockd ssh4 { ${el} }`]);
  assert.equal(audits(fx).length, 0, 'door.open only once nft said yes');
  fx = m.done(b.op, OK, T0 + 1);
  const open = audits(fx, 'door.open')[0];
  assert.deepEqual([open?.set, open?.lease, open?.expiresAt, open?.ports, open?.exitCode], ['inet knockd ssh4', lease, T0 + 10_000, '22:tcp', 0]);
  assert.ok(fx.some((e) => e.kind === 'klog' && /ssh: 10\.0\.0\.2 added to nft set inet knockd ssh4 \(timeout 10 s\)/.test(e.line)));
  assert.equal(m.nextDeadline(), T0 + 10_000);
  assert.deepEqual(m.tick(T0 + 9_999), []);
  fx = m.tick(T0 + 10_000);
  assert.equal(nfts(fx).length, 0, 'the kernel removes the element: no command');
  const close = audits(fx, 'door.close')[0];
  assert.deepEqual([close?.reason, close?.lease, close?.set, close?.exitCode], ['timeout', lease, 'inet knockd ssh4', undefined]);
  assert.equal(m.size, 0);
  assert.equal(m.nextDeadline(), undefined);
  assert.equal(m.settled(T0 + 10_000), true);
});

test('2 a re-knock refreshes with the time left (one batch, the same lease); while a batch is in flight it waits for it', () => {
  const m = new NftDoors();
  const open = nft1(m.grant(req(), T0));
  let fx = m.grant(req(), T0 + 1);                     // before nft answered the open
  assert.equal(nfts(fx).length, 0, 'one batch per lease at a time');
  assert.equal(audits(fx, 'door.extend').length, 1);
  fx = m.done(open.op, OK, T0 + 2);
  const r1 = nft1(fx);
  assert.match(r1.lines[0] ?? '', /timeout 9999ms comment/, 'the refresh carries the time left of the new expiry');
  m.done(r1.op, OK, T0 + 3);
  fx = m.grant(req(), T0 + 4000);
  const r2 = nft1(fx);
  const lease = m.leases()[0]?.lease.id;
  assert.deepEqual(r2.lines.map((l) => l.split(' {')[0]), ['add element inet knockd ssh4', 'delete element inet knockd ssh4', 'add element inet knockd ssh4']);
  assert.match(r2.lines[2] ?? '', new RegExp(`10\\.0\\.0\\.2 timeout 10s comment "knockd lease=${lease} key=alice"`));
  assert.equal(audits(fx, 'door.extend')[0]?.expiresAt, T0 + 14_000);
  m.done(r2.op, OK, T0 + 4001);
  const bob = { kind: 'spa', key: 'bob', keyId: 'cd'.repeat(8) } as const;
  const byBob = m.grant(req('10.0.0.2', { principal: bob, src: '10.0.0.9', grantedTtl: 5 }), T0 + 4002);
  assert.deepEqual([audits(byBob, 'door.extend')[0]?.principal, audits(byBob, 'door.extend')[0]?.src], [bob, '10.0.0.9'], 'the extender is named');
  m.done(nft1(byBob).op, OK, T0 + 4003);
  assert.deepEqual(m.tick(T0 + 10_000), []);
  assert.equal(audits(m.tick(T0 + 14_000), 'door.close')[0]?.reason, 'timeout');
});

test('3 nft refuses the open: command.fail (command nft, the error), no door.open, the lease goes', () => {
  const m = new NftDoors();
  const b = nft1(m.grant(req(), T0));
  const fx = m.done(b.op, REFUSED, T0 + 1);
  const fail = audits(fx, 'command.fail')[0];
  assert.deepEqual([fail?.command, fail?.set, fail?.timedOut], ['nft', 'inet knockd ssh4', false]);
  assert.match(String(fail?.error), /^Error: Could not process rule: No such file or directory \| add element/);
  assert.equal(audits(fx, 'door.open').length, 0);
  assert.equal(m.size, 0);
  assert.equal(nfts(m.grant(req(), T0 + 2)).length, 1, 'the next knock tries again');
});

test('4 a refused refresh: command.fail, the lease keeps the expiry the kernel has', () => {
  const m = new NftDoors();
  m.done(nft1(m.grant(req(), T0)).op, OK, T0);
  const r = nft1(m.grant(req(), T0 + 5000));
  const fx = m.done(r.op, REFUSED, T0 + 5001);
  assert.equal(audits(fx, 'command.fail').length, 1);
  assert.equal(m.nextDeadline(), T0 + 10_000);
  assert.equal(audits(m.tick(T0 + 10_000), 'door.close').length, 1);
});

test('5 outcome unknown (nft died): kept as open without door.open; revocation deletes it', () => {
  const m = new NftDoors();
  const b = nft1(m.grant(req(), T0));
  let fx = m.done(b.op, LOST, T0 + 1);
  assert.equal(audits(fx, 'command.fail')[0]?.lost, true);
  assert.equal(audits(fx, 'door.open').length, 0);
  assert.equal(m.leases()[0]?.state, 'open');
  fx = m.closeWhere(() => true, 'revoked', T0 + 2);
  assert.deepEqual(nft1(fx).lines, ['add element inet knockd ssh4 { 10.0.0.2 timeout 1s }', 'delete element inet knockd ssh4 { 10.0.0.2 }']);
});

test('6 revocation deletes the element; a refused delete is retried with backoff, then door.close with the attempts', () => {
  const m = new NftDoors();
  m.done(nft1(m.grant(req(), T0)).op, OK, T0);
  m.done(nft1(m.grant(req('10.0.0.3', { principal: { kind: 'sequence' } }), T0)).op, OK, T0);
  let fx = m.closeWhere((l) => l.principal.kind === 'spa', 'revoked', T0 + 100);
  const del = nft1(fx);
  assert.equal(del.lines.length, 2, 'only the key\'s lease');
  fx = m.done(del.op, REFUSED, T0 + 101);
  const fail = audits(fx, 'command.fail')[0];
  assert.deepEqual([fail?.command, fail?.attempt, fail?.retryAt], ['nft', 1, T0 + 1101]);
  assert.equal(m.settled(T0 + 200), true, 'nothing due before the retry');
  assert.equal(nfts(m.tick(T0 + 1100)).length, 0);
  const again = nft1(m.tick(T0 + 1101));
  fx = m.done(again.op, OK, T0 + 1102);
  const close = audits(fx, 'door.close')[0];
  assert.deepEqual([close?.reason, close?.attempts, close?.ip], ['revoked', 2, '10.0.0.2']);
  assert.equal(m.size, 1, 'the sequence lease stays');
});

test('7 a delete that keeps failing stops at the element\'s own timeout (the kernel removed it): door.close timeout', () => {
  const m = new NftDoors({ retryDelaysMs: [3000] });
  m.done(nft1(m.grant(req(), T0)).op, OK, T0);
  let fx = m.closeWhere(() => true, 'shutdown', T0 + 1000);
  m.done(nft1(fx).op, REFUSED, T0 + 1000);
  m.done(nft1(m.tick(T0 + 4000)).op, REFUSED, T0 + 4000);
  assert.equal(m.nextDeadline(), T0 + 7000);
  m.done(nft1(m.tick(T0 + 7000)).op, REFUSED, T0 + 7000);
  assert.equal(m.nextDeadline(), T0 + 10_000, 'the next retry would come after the expiry');
  fx = m.tick(T0 + 10_000);
  assert.equal(nfts(fx).length, 0);
  assert.deepEqual(audits(fx, 'door.close').map((c) => [c.reason, c.attempts]), [['timeout', 3]]);
  assert.equal(m.size, 0);
});

test('8 revoked while its open is in flight: the delete is queued behind it; door.open then door.close', () => {
  const m = new NftDoors();
  const open = nft1(m.grant(req(), T0));
  const del = nft1(m.closeWhere(() => true, 'revoked', T0 + 1));
  assert.ok(del.op > open.op, 'sent after the open: the channel applies batches in order');
  const fx = [...m.done(open.op, OK, T0 + 2), ...m.done(del.op, OK, T0 + 3)];
  assert.deepEqual(audits(fx).map((a) => a.event), ['door.open', 'door.close']);
  assert.equal(m.size, 0);
});

test('9 shutdown deletes every element in batches of NFT_CLOSE_CHUNK; settled only when they are answered', () => {
  const m = new NftDoors();
  const n = NFT_CLOSE_CHUNK * 2 + 5;
  for (let i = 0; i < n; i++) m.done(nft1(m.grant(req(`10.1.${i >> 8}.${i & 255}`), T0)).op, OK, T0);
  const fx = m.closeWhere(() => true, 'shutdown', T0 + 10);
  const batches = nfts(fx);
  assert.deepEqual(batches.map((b) => b.lines.length / 2), [NFT_CLOSE_CHUNK, NFT_CLOSE_CHUNK, 5]);
  assert.equal(m.settled(T0 + 10), false);
  const closes = batches.flatMap((b) => audits(m.done(b.op, OK, T0 + 11), 'door.close'));
  assert.equal(closes.length, n);
  assert.ok(closes.every((c) => c.reason === 'shutdown'));
  assert.equal(m.settled(T0 + 11), true);
  assert.equal(m.size, 0);
});

test('10 a new knock after a refused delete takes the element over: the pending delete is dropped', () => {
  const m = new NftDoors();
  m.done(nft1(m.grant(req(), T0)).op, OK, T0);
  m.done(nft1(m.closeWhere(() => true, 'revoked', T0 + 1)).op, REFUSED, T0 + 1);
  const fx = m.grant(req(), T0 + 2);
  assert.equal(nfts(fx).length, 1);
  assert.deepEqual(audits(fx).map((a) => [a.event, a.reason]), [['door.close', 'revoked']]);
  assert.equal(m.size, 1);
  assert.deepEqual(nfts(m.tick(T0 + 5000)), [], 'no late delete of the new element');
});

test('11 doors without a set for the family open nothing here; bounds: lease table, open budget; ttl 0 opens nothing', () => {
  const m = new NftDoors({ maxLeases: 1 });
  assert.deepEqual(m.grant(req('10.0.0.2', { door: door({ nft: undefined }) }), T0), []);
  assert.deepEqual(m.grant(req('2001:db8::2', { door: door({ nft: { set4: SET4, element: 'addr' } }) }), T0), []);
  assert.equal(nfts(m.grant(req('10.0.0.2', { grantedTtl: 0 }), T0)).length, 0);
  let asked = 0;
  assert.deepEqual(audits(m.grant(req('10.0.0.2', { admit: () => { asked++; return false; } }), T0)).map((a) => a.reason), ['open-rate']);
  assert.equal(nfts(m.grant(req('10.0.0.2'), T0)).length, 1);
  assert.deepEqual(audits(m.grant(req('10.0.0.3', { admit: () => { asked++; return true; } }), T0)).map((a) => a.reason), ['lease-table-full']);
  assert.equal(asked, 1, 'the budget is not taken for a refused open');
});

test('12 addr-port: one element per door port in each batch', () => {
  const m = new NftDoors();
  const d = door({ ports: [{ port: 22, proto: 'tcp' }, { port: 53, proto: 'udp' }], nft: { set4: SET4, element: 'addr-port' } });
  const b = nft1(m.grant(req('10.0.0.2', { door: d }), T0));
  assert.match(b.lines[1] ?? '', /^delete element inet knockd ssh4 \{ 10\.0\.0\.2 \. tcp \. 22, 10\.0\.0\.2 \. udp \. 53 \}$/);
});

test('13 restore: our elements become leases with the time they have left (+1 s: nft rounds down); others are left alone', () => {
  const m = new NftDoors();
  const d = door({ ports: [{ port: 22, proto: 'tcp' }, { port: 53, proto: 'udp' }], nft: { set4: SET4, element: 'addr-port' } });
  const t = nftTarget(d, 4) as NftTarget;
  const el = (ip: string, p: Partial<NftListedElement>): NftListedElement => ({ key: ip, ip, family: ip.includes(':') ? 6 : 4, ...p });
  const elements = [
    el('10.0.0.2', { proto: 'tcp', port: 22, timeoutMs: 30_000, expiresMs: 20_000, owner: { lease: 'L1', key: 'alice' } }),
    el('10.0.0.2', { proto: 'udp', port: 53, timeoutMs: 30_000, expiresMs: 21_000, owner: { lease: 'L1', key: 'alice' } }),
    el('10.0.0.3', { timeoutMs: 30_000, expiresMs: 5000, owner: { lease: 'L2' } }),
    el('10.0.0.4', { timeoutMs: 30_000, expiresMs: 5000, comment: 'added by hand' }),
    el('10.0.0.5', { owner: { lease: 'L3' } }),                         // no timeout: not one of ours to expire
    el('10.0.0.6', { timeoutMs: 30_000, expiresMs: 5000, owner: { key: 'bob' } }),
  ];
  const fx = m.restore(0, d, t, elements, (n) => (n === 'alice' ? 'cd'.repeat(8) : undefined), T0);
  const rearm = audits(fx, 'door.rearm');
  assert.deepEqual(rearm.map((r) => [r.lease, r.ip, r.expiresAt, r.set]), [['L1', '10.0.0.2', T0 + 22_000, 'inet knockd ssh4'], ['L2', '10.0.0.3', T0 + 6000, 'inet knockd ssh4']]);
  assert.deepEqual(rearm[0]?.principal, { kind: 'spa', key: 'alice', keyId: 'cd'.repeat(8) });
  assert.deepEqual(rearm[1]?.principal, { kind: 'sequence' });
  assert.deepEqual(kinds(fx), ['audit', 'log']);
  assert.equal(m.leases().find((l) => l.lease.id === 'L2')?.lease.openedAt, T0 - 25_000);
  assert.deepEqual(m.restore(0, d, t, elements, () => undefined, T0), [], 'a second restore adds nothing');
  // a re-knock refreshes the restored lease under its own id
  const r = nft1(m.grant(req('10.0.0.2', { door: d }), T0 + 1000));
  assert.match(r.lines[0] ?? '', /comment "knockd lease=L1 key=alice"/);
  assert.equal(audits(m.tick(T0 + 6000), 'door.close')[0]?.lease, 'L2');
});
