/**
 * A scripted day at the door, as the daemon would write it to the audit log
 * (docs/ARCHITECTURE.md schema). Shared by the report unit tests and the `knockd audit` tests.
 *
 *   alice  SPA   ssh   198.51.100.7            opened +10s, extended +35s, closed +65s (timeout)
 *   bob    SPA   ssh   from 203.0.113.9 for 192.0.2.50   opened +60s, closed +120s (timeout)
 *   (seq)        web   192.0.2.77              opened +100s, closed +110s (timeout)
 *   (seq)        ping  192.0.2.78              start command only (no lease) at +50s
 *   (seq)        web   192.0.2.79              opened +150s, expires +160s, never closed → overdue
 *   carol  SPA   db    2001:db8::5             start command failed (exit 2) at +200s
 *   dave   SPA   ssh   2001:db8::7             opened +300s, expires +900s → open at NOW (+400s)
 *   erin   SPA   ssh   198.51.100.20           close only (open rotated out of the log), opened -3600s, closed +5s (shutdown)
 *   rejects: 3 × bad-mac from 192.0.2.200, 1 × replay of alice's key from 198.51.100.99, 40 suppressed
 *   two unreadable lines (lines BAD_LINES)
 */
export const T0 = Date.UTC(2024, 4, 1, 12, 0, 0); // 2024-05-01 12:00:00Z
export const NOW = T0 + 400_000;
export const s = (sec: number): number => T0 + sec * 1000;

export const ALICE = { kind: 'spa', key: 'alice', keyId: 'a1a1a1a1a1a1a1a1' } as const;
export const BOB = { kind: 'spa', key: 'bob', keyId: 'b0b0b0b0b0b0b0b0' } as const;
export const CAROL = { kind: 'spa', key: 'carol', keyId: 'c4c4c4c4c4c4c4c4' } as const;
export const DAVE = { kind: 'spa', key: 'dave', keyId: 'd4d4d4d4d4d4d4d4' } as const;
export const ERIN = { kind: 'spa', key: 'erin', keyId: 'e4e4e4e4e4e4e4e4' } as const;
export const SEQ = { kind: 'sequence' } as const;

const rec = (o: Record<string, unknown>): string => JSON.stringify({ level: 30, pid: 4242, hostname: 'gw', ...o });

export const LINES: readonly string[] = [
  rec({ time: s(0), event: 'daemon.start', pid: 4242, config: '/etc/knockd.conf' }),
  rec({ time: s(5), event: 'door.close', door: 'ssh', src: '198.51.100.20', principal: ERIN, ip: '198.51.100.20', lease: 'L0', exitCode: 0, reason: 'shutdown', openedAt: s(-3600) }),
  rec({ time: s(10), event: 'door.open', door: 'ssh', src: '198.51.100.7', principal: ALICE, ip: '198.51.100.7', lease: 'L1', ports: 'tcp/22', requestedTtl: 30, grantedTtl: 30, expiresAt: s(40), exitCode: 0 }),
  'this is not json {',
  rec({ time: s(35), event: 'door.extend', door: 'ssh', src: '198.51.100.7', principal: ALICE, ip: '198.51.100.7', lease: 'L1', requestedTtl: 30, grantedTtl: 30, expiresAt: s(65) }),
  rec({ time: s(36), event: 'knock.reject', src: '198.51.100.99', door: 'ssh', reason: 'replay', keyId: ALICE.keyId, key: 'alice' }),
  rec({ time: s(50), event: 'door.open', door: 'ping', src: '192.0.2.78', principal: SEQ, ip: '192.0.2.78', ports: '7000,8000,9000', grantedTtl: 10, exitCode: 0 }),
  rec({ time: s(60), event: 'door.open', door: 'ssh', src: '203.0.113.9', principal: BOB, ip: '192.0.2.50', lease: 'L2', ports: 'tcp/22', requestedTtl: 120, grantedTtl: 60, expiresAt: s(120), exitCode: 0 }),
  rec({ time: s(65), event: 'door.close', door: 'ssh', src: '198.51.100.7', principal: ALICE, ip: '198.51.100.7', lease: 'L1', exitCode: 0, reason: 'timeout', openedAt: s(10) }),
  rec({ time: s(70), event: 'knock.reject', src: '192.0.2.200', reason: 'bad-mac' }),
  rec({ time: s(71), event: 'knock.reject', src: '192.0.2.200', reason: 'bad-mac' }),
  JSON.stringify({ event: 'door.open', door: 'x' }), // no time: unreadable
  rec({ time: s(72), event: 'knock.reject', src: '192.0.2.200', reason: 'bad-mac' }),
  rec({ time: s(73), event: 'knock.reject.suppressed', count: 40, since: s(72) }),
  rec({ time: s(100), event: 'door.open', door: 'web', src: '192.0.2.77', principal: SEQ, ip: '192.0.2.77', lease: 'L3', ports: '7000,8000,9000', grantedTtl: 10, expiresAt: s(110), exitCode: 0 }),
  rec({ time: s(110), event: 'door.close', door: 'web', src: '192.0.2.77', principal: SEQ, ip: '192.0.2.77', lease: 'L3', exitCode: 0, reason: 'timeout', openedAt: s(100) }),
  rec({ time: s(120), event: 'door.close', door: 'ssh', src: '203.0.113.9', principal: BOB, ip: '192.0.2.50', lease: 'L2', exitCode: 0, reason: 'timeout', openedAt: s(60) }),
  rec({ time: s(150), event: 'door.open', door: 'web', src: '192.0.2.79', principal: SEQ, ip: '192.0.2.79', lease: 'L6', ports: '7000,8000,9000', grantedTtl: 10, expiresAt: s(160), exitCode: 0 }),
  rec({ time: s(200), event: 'command.fail', door: 'db', src: '2001:db8::5', principal: CAROL, ip: '2001:db8::5', lease: 'L4', command: 'start', exitCode: 2, timedOut: false }),
  '',
  rec({ time: s(300), event: 'door.open', door: 'ssh', src: '2001:db8::7', principal: DAVE, ip: '2001:db8::7', lease: 'L5', ports: 'tcp/22', requestedTtl: 600, grantedTtl: 600, expiresAt: s(900), exitCode: 0 }),
];

/** 1-based line numbers of the two unreadable lines in LINES. */
export const BAD_LINES = [4, 12] as const;
export const TEXT = LINES.join('\n') + '\n';
