/**
 * The knockd-ts client over loopback, no root: profiles and flag precedence, key-file
 * messages, --keygen --comment / --pubkey, --dry-run, -4/-6 against literals, --allow-ip auto
 * against a local STUN responder, --wait, and -W relaying both ways with half-close.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { chmodSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { createSocket, type Socket } from 'node:dgram';
import net from 'node:net';
import { spawn } from 'node:child_process';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { knockMain } from '../../src/cli/knock.js';
import { decodeRequest } from '../../src/core/spa/wire.js';
import { encodeBindingRequest, MAGIC_COOKIE } from '../../src/core/stun.js';
import { bin } from '../helpers/paths.js';

interface Out { code: number; out: string; err: string }
async function knock(home: string, ...argv: string[]): Promise<Out> {
  const r = { code: -1, out: '', err: '' };
  r.code = await knockMain(argv, { out: (s) => { r.out += s; }, err: (s) => { r.err += s; }, home });
  return r;
}

function makeHome(): string {
  const home = mkdtempSync(join(tmpdir(), 'kts-client-'));
  mkdirSync(join(home, '.knock'), { mode: 0o700 });
  return home;
}

async function udpSink(): Promise<{ sock: Socket; port: number; got: Buffer[] }> {
  const sock = createSocket('udp4');
  const got: Buffer[] = [];
  sock.on('message', (m) => got.push(m));
  await new Promise<void>((r) => sock.bind(0, '127.0.0.1', () => r()));
  return { sock, port: sock.address().port, got };
}
const until = async (pred: () => boolean, ms = 3000) => { const end = Date.now() + ms; while (!pred() && Date.now() < end) await new Promise((r) => setTimeout(r, 10)); };

test('--keygen --comment, --pubkey prints the same enrolment line; a .pub or .enrol given as --key is named', async () => {
  const home = makeHome();
  try {
    const g = await knock(home, '--keygen', '--comment', 'bob laptop');
    assert.equal(g.code, 0, g.err);
    const pub = readFileSync(join(home, '.knock', 'key.pub'), 'utf8');
    assert.match(pub, /^knock-ed25519-pub \S{44} bob_laptop\n$/, 'the shareable public line');
    const enrol = readFileSync(join(home, '.knock', 'key.enrol'), 'utf8');
    assert.match(enrol, /^knock-ed25519-v2 \S{44} \S{44} bob_laptop\n$/, 'the line for the administrator');
    assert.equal(statSync(join(home, '.knock', 'key.enrol')).mode & 0o777, 0o600);
    const p = await knock(home, '--pubkey');
    assert.equal(p.code, 0, p.err);
    assert.equal(p.out, enrol);
    const e = await knock(home, '--spa', '--key', join(home, '.knock', 'key.enrol'), '127.0.0.1');
    assert.equal(e.code, 77);
    assert.match(e.err, /is the enrolment line of a key; use .*\.knock\/key \(the file without \.enrol\) with --key/);
    const p2 = await knock(home, '--pubkey', '--comment', 'other');
    assert.match(p2.out, / other\n$/);
    const w = await knock(home, '--spa', '--key', join(home, '.knock', 'key.pub'), '127.0.0.1');
    assert.equal(w.code, 77);
    assert.match(w.err, /is the public half of a key; use .*\.knock\/key \(the file without \.pub\) with --key/);
    const c = await knock(home, '--keygen', '--force', '--comment', 'a\u0007b');
    assert.equal(c.code, 64);
    const h = await knock(home, '--keygen', '--key', join(home, 'h'), '--type', 'hmac');
    assert.equal(h.code, 0, h.err);
    const hp = await knock(home, '--pubkey', '--key', join(home, 'h'));
    assert.match(hp.err, /hmac key: a shared secret has no public half/);
    assert.equal((await knock(home, '--pubkey', '127.0.0.1')).code, 64);
  } finally { rmSync(home, { recursive: true, force: true }); }
});

test('knock PROFILE uses ~/.knock/config; flags override it; --spa HOST finds the profile by host', async () => {
  const home = makeHome();
  const sink = await udpSink();
  try {
    assert.equal((await knock(home, '--keygen')).code, 0);
    const cfg = join(home, '.knock', 'config');
    writeFileSync(cfg, `[default]\nttl = 45\n\n[lab]\nhost = 127.0.0.1\nspa-port = ${sink.port}\ndoor = ssh\nfamily = 4\n`, { mode: 0o600 });
    const a = await knock(home, 'lab', '-v');
    assert.equal(a.code, 0, a.err);
    await until(() => sink.got.length >= 1);
    let d = decodeRequest(new Uint8Array(sink.got[0]!));
    assert.ok(d.ok);
    assert.equal(d.req.door, 'ssh');
    assert.equal(d.req.ttl, 45, '[default] ttl');
    assert.match(a.out, /door ssh, ttl 45s/);
    const b = await knock(home, '--spa', 'lab', '--door', 'web', '--ttl', '5');
    assert.equal(b.code, 0, b.err);
    await until(() => sink.got.length >= 2);
    d = decodeRequest(new Uint8Array(sink.got[1]!));
    assert.ok(d.ok && d.req.door === 'web' && d.req.ttl === 5, 'flags override the profile');
    const c = await knock(home, '--spa', '127.0.0.1', '--dry-run');
    assert.equal(c.code, 0, c.err);
    assert.match(c.out, new RegExp(`to 127\\.0\\.0\\.1:${sink.port}/udp`), 'profile found by host');
    // a classic two-argument knock is untouched by profiles; one unknown argument is still usage
    assert.equal((await knock(home, 'nosuch')).code, 1);
    // group-writable config refused like ssh
    chmodSync(cfg, 0o620);
    const e = await knock(home, 'lab');
    assert.equal(e.code, 78);
    assert.match(e.err, /bad permissions 0620 for '.*config': writable by group or others; run 'chmod go-w/);
    chmodSync(cfg, 0o600);
    writeFileSync(cfg, '[lab]\nhots = x\n');
    assert.match((await knock(home, 'lab')).err, /config:2: unknown setting 'hots'/);
    assert.equal((await knock(home, '--spa', 'x', '--config', join(home, 'missing'))).code, 78);
  } finally { sink.sock.close(); rmSync(home, { recursive: true, force: true }); }
});

test('--dry-run prints the decoded request and its hex and sends nothing', async () => {
  const home = makeHome();
  const sink = await udpSink();
  try {
    assert.equal((await knock(home, '--keygen')).code, 0);
    const r = await knock(home, '--spa', '--dry-run', '--door', 'ssh', '--allow-ip', '192.0.2.7', '--spa-port', String(sink.port), '127.0.0.1');
    assert.equal(r.code, 0, r.err);
    assert.match(r.out, /dry run, not sent/);
    assert.match(r.out, /open for 192\.0\.2\.7 \(given\)/);
    const hex = /hex ([0-9a-f]+)/.exec(r.out)?.[1];
    assert.ok(hex);
    const d = decodeRequest(Uint8Array.from(Buffer.from(hex, 'hex')));
    assert.ok(d.ok && d.req.door === 'ssh' && d.req.allowIp.text === '192.0.2.7');
    await new Promise((res) => setTimeout(res, 100));
    assert.equal(sink.got.length, 0);
  } finally { sink.sock.close(); rmSync(home, { recursive: true, force: true }); }
});

test('a profile\'s allow-ip = nat signs the nat flag like --nat; a command-line --allow-ip overrides it', async () => {
  const home = makeHome();
  const sink = await udpSink();
  try {
    assert.equal((await knock(home, '--keygen')).code, 0);
    writeFileSync(join(home, '.knock', 'config'), `[lab]\nhost = 127.0.0.1\nspa-port = ${sink.port}\nallow-ip = nat\n`, { mode: 0o600 });
    const hexOf = (out: string) => Uint8Array.from(Buffer.from(/hex ([0-9a-f]+)/.exec(out)?.[1] ?? '', 'hex'));
    const r = await knock(home, '--dry-run', 'lab');
    assert.equal(r.code, 0, r.err);
    assert.match(r.out, /open for the address the server sees \(--nat/);
    const d = decodeRequest(hexOf(r.out));
    assert.ok(d.ok && d.req.nat === true, 'nat flag signed');
    const o = await knock(home, '--dry-run', '--allow-ip', '192.0.2.9', 'lab');
    assert.equal(o.code, 0, o.err);
    const d2 = decodeRequest(hexOf(o.out));
    assert.ok(d2.ok && d2.req.nat === false && d2.req.allowIp.text === '192.0.2.9', 'the flag overrides the profile');
    writeFileSync(join(home, '.knock', 'config'), '[lab]\nallow-ip = natt\n', { mode: 0o600 });
    assert.match((await knock(home, '--dry-run', 'lab')).err, /config:2: allow-ip must be 'auto', 'nat' or/);
  } finally { sink.sock.close(); rmSync(home, { recursive: true, force: true }); }
});

test('-6 with an IPv4 literal and -4 with an IPv6 literal are errors; mismatched --allow-ip too', async () => {
  const home = makeHome();
  try {
    assert.equal((await knock(home, '--keygen')).code, 0);
    const a = await knock(home, '--spa', '-6', '127.0.0.1');
    assert.equal(a.code, 64);
    assert.match(a.err, /-6 was given but '127\.0\.0\.1' is an IPv4 address/);
    const b = await knock(home, '--spa', '-4', '::1');
    assert.match(b.err, /-4 was given but '::1' is an IPv6 address/);
    const c = await knock(home, '--spa', '--allow-ip', '::1', '--dry-run', '127.0.0.1');
    assert.match(c.err, /--allow-ip ::1 is IPv6 but the knock goes to 127\.0\.0\.1 over IPv4/);
  } finally { rmSync(home, { recursive: true, force: true }); }
});

/** A STUN responder on loopback: answers with XOR-MAPPED-ADDRESS 198.51.100.7:40000, or junk. */
async function stunResponder(mode: 'good' | 'junk' | 'mapped'): Promise<{ sock: Socket; port: number; asked: number }> {
  const sock = createSocket('udp4');
  const st = { sock, port: 0, asked: 0 };
  sock.on('message', (m, rinfo) => {
    st.asked++;
    assert.equal(m.length, 20, 'only a 20-byte Binding request is ever sent');
    assert.deepEqual(m.subarray(0, 8), Buffer.from(encodeBindingRequest(new Uint8Array(12)).subarray(0, 8)));
    const txid = m.subarray(8, 20);
    const ans = Buffer.alloc(32);
    ans.writeUInt16BE(0x0101, 0); ans.writeUInt16BE(12, 2); ans.writeUInt32BE(MAGIC_COOKIE, 4); txid.copy(ans, 8);
    ans.writeUInt16BE(mode === 'mapped' ? 0x0001 : 0x0020, 20); ans.writeUInt16BE(8, 22); ans.writeUInt16BE(1, 24);
    const x = mode === 'mapped' ? 0 : 1;
    ans.writeUInt16BE(40000 ^ (x ? 0x2112 : 0), 26);
    [198, 51, 100, 7].forEach((b, i) => { ans[28 + i] = b ^ (x ? (ans[4 + i] as number) : 0); });
    if (mode === 'junk') { ans[9] = (ans[9] as number) ^ 0xff; ans.writeUInt16BE(99, 2); } // wrong txid and length
    sock.send(ans, rinfo.port, rinfo.address);
  });
  await new Promise<void>((r) => sock.bind(0, '127.0.0.1', () => r()));
  st.port = sock.address().port;
  return st;
}

test('--allow-ip auto signs the address a STUN server reports (XOR-MAPPED, MAPPED); junk answers end in a bounded, clear error', async () => {
  const home = makeHome();
  try {
    assert.equal((await knock(home, '--keygen')).code, 0);
    for (const mode of ['good', 'mapped'] as const) {
      const s = await stunResponder(mode);
      try {
        const r = await knock(home, '--spa', '--allow-ip', 'auto', '--stun', `127.0.0.1:${s.port}`, '--dry-run', '127.0.0.1');
        assert.equal(r.code, 0, r.err);
        assert.match(r.out, new RegExp(`open for 198\\.51\\.100\\.7 \\(learned from STUN server 127\\.0\\.0\\.1:${s.port} in \\d+ ms\\)`));
      } finally { s.sock.close(); }
    }
    const j = await stunResponder('junk');
    try {
      const t0 = Date.now();
      const r = await knock(home, '--spa', '--allow-ip', 'auto', '--stun', `127.0.0.1:${j.port}`, '--dry-run', '127.0.0.1');
      assert.equal(r.code, 69);
      assert.match(r.err, /could not learn the public address by STUN within 1\.5 s: 127\.0\.0\.1:\d+ \(answer refused: wrong-transaction\); check that UDP/);
      assert.ok(j.asked >= 2, 'retransmitted');
      assert.ok(Date.now() - t0 < 10000, 'bounded');
    } finally { j.sock.close(); }
    const n = await knock(home, '--spa', '--stun', '127.0.0.1', '--dry-run', '127.0.0.1');
    assert.match(n.err, /'--stun' needs --allow-ip auto/);
  } finally { rmSync(home, { recursive: true, force: true }); }
});

test('--wait PORT: exit 0 once the port accepts; a closed port ends in a bounded ERR_NOT_OPEN with what to check', async () => {
  const home = makeHome();
  const sink = await udpSink();
  const srv = net.createServer((s) => s.destroy());
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', () => r()));
  try {
    assert.equal((await knock(home, '--keygen')).code, 0);
    const port = (srv.address() as net.AddressInfo).port;
    const ok = await knock(home, '--spa', '--spa-port', String(sink.port), '--wait', String(port), '-v', '127.0.0.1');
    assert.equal(ok.code, 0, ok.err);
    assert.match(ok.out, new RegExp(`port ${port} on 127\\.0\\.0\\.1 accepts`));
    srv.close();
    const bad = await knock(home, '--spa', '--spa-port', String(sink.port), '--wait', String(port), '--timeout', '1', '127.0.0.1');
    assert.equal(bad.code, 75);
    assert.match(bad.err, /^knock: door did not open within 1 s: no connection to 127\.0\.0\.1:\d+ \(last error ECONNREFUSED: connection refused\) after a knock and a re-knock for 127\.0\.0\.1;/);
    assert.match(bad.err, /check that knockd runs on 127\.0\.0\.1 with SPA on udp\/\d+, the door name/);
    assert.equal(bad.err.trim().split('\n').length, 1, 'one line (OpenSSH shows it as is)');
    const both = await knock(home, '-W', '127.0.0.1:22', '--wait', '22');
    assert.match(both.err, /-W and --wait exclude each other/);
  } finally { sink.sock.close(); rmSync(home, { recursive: true, force: true }); }
});

test('-W host:port relays stdin/stdout both ways; stdin EOF half-closes and the answer still arrives', async () => {
  const home = makeHome();
  const sink = await udpSink();
  let serverSaw = '';
  const srv = net.createServer({ allowHalfOpen: true }, (s) => {
    s.on('data', (d) => { serverSaw += d.toString(); s.write(d.toString().toUpperCase()); });
    s.on('end', () => { s.end(`bye after ${serverSaw.length}\n`); });
  });
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', () => r()));
  try {
    assert.equal((await knock(home, '--keygen')).code, 0);
    const port = (srv.address() as net.AddressInfo).port;
    const child = spawn(process.execPath, [bin('knock'), '--spa-port', String(sink.port), '-W', `127.0.0.1:${port}`], { env: { ...process.env, HOME: home } });
    let out = '', err = '';
    child.stdout.on('data', (d: Buffer) => { out += d.toString(); });
    child.stderr.on('data', (d: Buffer) => { err += d.toString(); });
    child.stdin.write('hello ');
    await until(() => out.includes('HELLO'), 5000);
    assert.equal(out, 'HELLO ', `round trip; stderr ${err}`);
    child.stdin.end('world');
    const code = await new Promise<number | null>((r) => child.on('exit', (c) => r(c)));
    assert.equal(code, 0, err);
    assert.equal(out, 'HELLO WORLDbye after 11\n');
    assert.equal(serverSaw, 'hello world');
    assert.equal(sink.got.length, 1, 'one knock');
    assert.equal(err, '');
  } finally { srv.close(); sink.sock.close(); rmSync(home, { recursive: true, force: true }); }
});

test('an unroutable server is reported as the system says (ENETUNREACH), not as a misused socket', async (t) => {
  const { spawnSync } = await import('node:child_process');
  if (typeof process.getuid !== 'function' || process.getuid() !== 0 || spawnSync('unshare', ['--version']).error) {
    t.skip('needs root and unshare(1) for an empty network namespace'); return;
  }
  const home = makeHome();
  try {
    assert.equal((await knock(home, '--keygen')).code, 0);
    // a fresh network namespace of this command only: no interface, no route
    const r = spawnSync('unshare', ['-n', process.execPath, bin('knock'), '--spa', '10.9.9.9'], { env: { ...process.env, HOME: home }, encoding: 'utf8', timeout: 20000 });
    assert.equal(r.status, 69, r.stderr);
    assert.match(r.stderr, /^knock: cannot send to 10\.9\.9\.9:62201\/udp: ENETUNREACH: network is unreachable; no route to that network: check/);
    assert.doesNotMatch(r.stderr, /Received function/);
  } finally { rmSync(home, { recursive: true, force: true }); }
});

test('-W PROFILE:port (ssh alias without HostName) connects to the profile\'s host; verbose notes go to stderr only', async () => {
  const home = makeHome();
  const sink = await udpSink();
  const srv = net.createServer((s) => { s.end('hi\n'); });
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', () => r()));
  try {
    assert.equal((await knock(home, '--keygen')).code, 0);
    writeFileSync(join(home, '.knock', 'config'), `[lab]\nhost = 127.0.0.1\nspa-port = ${sink.port}\n`, { mode: 0o600 });
    const port = (srv.address() as net.AddressInfo).port;
    const child = spawn(process.execPath, [bin('knock'), '-v', '-W', `lab:${port}`], { env: { ...process.env, HOME: home } });
    let out = '', err = '';
    child.stdout.on('data', (d: Buffer) => { out += d.toString(); });
    child.stderr.on('data', (d: Buffer) => { err += d.toString(); });
    child.stdin.end();
    assert.equal(await new Promise<number | null>((r) => child.on('exit', (c) => r(c))), 0, err);
    assert.equal(out, 'hi\n', 'stdout carries only the connection');
    assert.match(err, /profile \[lab\]: host 127\.0\.0\.1/);
    assert.match(err, /connected to 127\.0\.0\.1:\d+ after \d+ ms/);
  } finally { srv.close(); sink.sock.close(); rmSync(home, { recursive: true, force: true }); }
});
