import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { isAppError } from '../../../src/core/errors.js';
import { fromB64, keyIdHex, mac1Key, mac1KeyV2, toB64 } from '../../../src/core/keys/id.js';
import { Keyring } from '../../../src/core/keys/keyring.js';
import { formatKeyRecord, keyStatus, parseDate, parseKeyRecord } from '../../../src/core/keys/record.js';
import { clientKeyFromSecret, clientKeyFromSeed, formatClientKey, formatEnrolLine, formatPublicLine, formatSharedLine, parseClientKey, parsePublicLine } from '../../../src/core/keys/client.js';
import { testKey } from '../../helpers/keys.js';

const pub = new Uint8Array(32).fill(7);
/** A real Ed25519 public key (records refuse strings that are no acceptable point). */
const edPub = testKey('keys-test').publicKey as Uint8Array;

test('key ids and mac1 key follow the documented derivations', () => {
  const exp = createHash('sha256').update('knockd-ts key id v1\0').update(pub).digest().subarray(0, 8).toString('hex');
  assert.equal(keyIdHex('ed25519', pub), exp);
  const expH = createHash('sha256').update('knockd-ts hmac id v1\0').update(pub).digest().subarray(0, 8).toString('hex');
  assert.equal(keyIdHex('hmac', pub), expH);
  assert.notEqual(exp, expH);
  assert.equal(Buffer.from(mac1Key(pub)).toString('hex'), createHash('sha256').update('knockd-ts mac1 v1\0').update(pub).digest('hex'));
  const seed = new Uint8Array(32).fill(3);
  assert.equal(Buffer.from(mac1KeyV2(seed)).toString('hex'), createHash('sha256').update('knockd-ts mac1 v2\0').update(seed).digest('hex'));
  assert.deepEqual(clientKeyFromSeed(seed).mac1Key, mac1KeyV2(seed), 'the v2 mac1 key comes from the private seed');
});

test('strict base64 and dates', () => {
  assert.deepEqual(fromB64(toB64(pub), 32), pub);
  for (const bad of ['', 'AAAA', 'A===', toB64(pub).slice(0, -1), toB64(pub) + '\n', toB64(pub).replace(/=$/, '')]) assert.equal(fromB64(bad, 32), undefined, bad);
  assert.equal(parseDate('2026-01-31'), Date.UTC(2026, 0, 31));
  assert.equal(parseDate('2026-01-31T12:00:00Z'), Date.UTC(2026, 0, 31, 12));
  assert.equal(parseDate('2026-01-31T12:00:00+02:00'), Date.UTC(2026, 0, 31, 10));
  for (const bad of ['2026-02-30', '2026-13-01', '31.01.2026', 'tomorrow', '2026-01-31 12:00', '']) assert.equal(parseDate(bad), undefined, bad);
});

test('key record round trip and status', () => {
  const rec = parseKeyRecord(`name = alice\ntype = ed25519\npublic = ${toB64(edPub)}\ndoors = ssh, web\nfrom = 10.0.0.0/8,2001:db8::/32\nexpires = 2026-06-01\nmax_ttl = 300\n`, 'f');
  assert.equal(rec.id, keyIdHex('ed25519', edPub));
  assert.deepEqual(rec.doors, ['ssh', 'web']);
  assert.deepEqual(rec.from.map((c) => c.text), ['10.0.0.0/8', '2001:db8::/32']);
  assert.equal(rec.maxTtl, 300);
  const again = parseKeyRecord(formatKeyRecord(rec), 'g', 'alice');
  assert.deepEqual({ ...again, publicKey: [...again.publicKey!] }, { ...rec, publicKey: [...rec.publicKey!] });
  assert.equal(keyStatus(rec, Date.UTC(2026, 0, 1)), 'active');
  assert.equal(keyStatus(rec, Date.UTC(2026, 5, 1)), 'expired');
  assert.equal(keyStatus({ ...rec, revoked: 5 }, 5), 'revoked');
  const h = parseKeyRecord(`name = erin\ntype = hmac\nsecret = ${toB64(pub)}\n`, 'f');
  assert.equal(h.id, keyIdHex('hmac', pub));
  // v2 record with nat: mac1 and nat round-trip
  const v2 = testKey('vera');
  const r2 = parseKeyRecord(`name = vera\ntype = ed25519\npublic = ${toB64(v2.publicKey!)}\nmac1 = ${toB64(v2.mac1Key!)}\nnat = yes\n`, 'f');
  assert.deepEqual(r2.mac1Key, v2.mac1Key);
  assert.equal(r2.nat, true);
  const back2 = parseKeyRecord(formatKeyRecord(r2), 'g', 'vera');
  assert.deepEqual(back2.mac1Key, v2.mac1Key);
  assert.equal(back2.nat, true);
});

test('malformed key records are refused with file, line and key', () => {
  const P = toB64(edPub);
  const cases: [string, RegExp][] = [
    [`name = a\ntype = ed25519\npublic = ${toB64(Uint8Array.from([1, ...new Uint8Array(31)]))}\n`, /^f:3: public = .*refused: the public key is a small-order point/],
    [`name = a\ntype = ed25519\npublic = ${toB64(Uint8Array.from([0xef, ...new Uint8Array(30).fill(0xff), 0x7f]))}\n`, /^f:3: public = .*refused: the public key is a non-canonical encoding/],
    [`name = a\ntype = ed25519\npublic = ${P}\ncomment = \x1b]0;pwned\x07\n`, /^f:4: holds a control character \(\\x1b\)/],
    [`name = a\ntype = ed25519\npublic = ${P}\ncomment = x\u202ey\n`, /^f:4: holds a control character \(\\u202e\)/],
    [`name = a\ntype = ed25519\npublic = ${P}\nnat = maybe\n`, /^f:4: nat = 'maybe'/],
    [`name = a\ntype = ed25519\npublic = ${P}\nmac1 = short\n`, /^f:4: mac1: expected base64/],
    [`name = a\ntype = hmac\nsecret = ${toB64(pub)}\nmac1 = ${toB64(pub)}\n`, /^f:4: an hmac record has no mac1 key/],
    [`name = a\ntype = ed25519\npublic = ${P}\nbogus = 1\n`, /^f:4: unknown key 'bogus'/],
    [`name = a\ntype = ed25519\npublic = ${P}\njunk line\n`, /^f:4: expected 'key = value'/],
    [`name = a\nname = b\n`, /^f:2: duplicate key 'name'/],
    [`name = a\ntype = rsa\n`, /^f:2: type = 'rsa'/],
    [`name = a\ntype = ed25519\npublic = AAAA\n`, /^f:3: public = 'AAAA'/],
    [`name = a\ntype = ed25519\npublic = ${P}\nid = 0000000000000000\n`, /^f:4: id = .*does not match/],
    [`name = a\ntype = ed25519\npublic = ${P}\nfrom = 10.0.0.1/8\n`, /^f:4: from = .*not a network/],
    [`name = a\ntype = ed25519\npublic = ${P}\ndoors = a b\n`, /^f:4: doors/],
    [`name = a\ntype = ed25519\npublic = ${P}\nexpires = soon\n`, /^f:4: expires = 'soon'/],
    [`name = a\ntype = ed25519\npublic = ${P}\nmax_ttl = -1\n`, /^f:4: max_ttl/],
    [`name = a\ntype = hmac\nsecret = short\n`, /^f:3: secret: expected base64/],
    [`name = ../x\ntype = ed25519\npublic = ${P}\n`, /^f:1: name/],
    [`[sec]\nname = a\n`, /^f:1: expected 'key = value'/],
    [`name = a\ntype = ed25519\npublic = ${P}\n`, /does not match the file name 'b.key'/],
  ];
  for (const [text, re] of cases) {
    assert.throws(() => parseKeyRecord(text, 'f', re.source.includes('b.key') ? 'b' : undefined), (e: unknown) => isAppError(e) && e.code === 'ERR_KEY_FILE' && re.test(e.message), String(re));
  }
  // the secret never appears in an error message
  try { parseKeyRecord(`name = a\ntype = hmac\nsecret = c2VjcmV0c2VjcmV0\n`, 'f'); assert.fail(); } catch (e) { assert.doesNotMatch(String(e), /c2VjcmV0c2VjcmV0/); }
});

test('keyring refuses the same key enrolled twice and looks up by id and name', () => {
  const a = parseKeyRecord(`name = a\ntype = ed25519\npublic = ${toB64(edPub)}\n`, 'f');
  const k = new Keyring([a]);
  assert.equal(k.byId(a.id)?.name, 'a');
  assert.equal(k.byName('a')?.id, a.id);
  assert.throws(() => new Keyring([a, { ...a, name: 'b' }]), /same key id/);
});

test('client key files and public lines', () => {
  const k = clientKeyFromSeed(new Uint8Array(32).fill(1));
  const text = formatClientKey(k, 'me@host');
  assert.match(text, /^knockd-ts-key v2\n/, 'new keys sign v2');
  const back = parseClientKey(text, 'key');
  assert.equal(back.id, k.id);
  assert.equal(back.spaVersion, 2);
  assert.deepEqual(back.publicKey, k.publicKey);
  assert.deepEqual(back.mac1Key, k.mac1Key);
  const old = parseClientKey(text.replace('knockd-ts-key v2', 'knockd-ts-key v1'), 'key');
  assert.equal(old.spaVersion, 1, 'a v1 key file keeps signing v1');
  assert.equal(old.mac1Key, undefined);
  // v1 line: public and enrolment line of a v1 key
  const line = formatPublicLine(k.publicKey!, 'me@host');
  assert.match(line, /^knock-ed25519 [A-Za-z0-9+/]{43}= me@host$/);
  assert.deepEqual(parsePublicLine(line), { publicKey: k.publicKey, version: 1, comment: 'me@host' });
  // v2 enrolment line carries the mac1 key; the shareable line does not and cannot enrol
  const enrol = formatEnrolLine(k.publicKey!, k.mac1Key!, 'me@host');
  assert.match(enrol, /^knock-ed25519-v2 [A-Za-z0-9+/]{43}= [A-Za-z0-9+/]{43}= me@host$/);
  assert.deepEqual(parsePublicLine(enrol), { publicKey: k.publicKey, mac1Key: k.mac1Key, version: 2, comment: 'me@host' });
  const shared = formatSharedLine(k.publicKey!, 'me@host');
  assert.ok(!shared.includes(toB64(k.mac1Key!)));
  assert.throws(() => parsePublicLine(shared), /shareable public line of a v2 key, which cannot be enrolled/);
  assert.throws(() => parsePublicLine(`knock-ed25519-v2 ${toB64(k.publicKey!)}`), /mac1 key \(third field\)/);
  assert.throws(() => parsePublicLine(`knock-ed25519 ${toB64(k.publicKey!)} evil\x1b]52;c;Zm9v\x07`), /the comment holds a control character \(\\x1b\)/);
  assert.throws(() => parsePublicLine('ssh-ed25519 AAAA x'), /expected 'knock-ed25519-v2/);
  assert.throws(() => parsePublicLine('knock-ed25519 AAAA'), /not base64 of 32 bytes/);
  const h = clientKeyFromSecret(new Uint8Array(32).fill(2), 'erin');
  assert.equal(parseClientKey(formatClientKey(h), 'k').name, 'erin');
  assert.throws(() => parseClientKey('hello\n', 'k'), /k:1: not a knockd-ts key file/);
  assert.throws(() => parseClientKey(text.replace(/id: \w+/, 'id: 0000000000000000'), 'k'), /does not match/);
  assert.throws(() => parseClientKey(text + 'extra: 1\n', 'k'), /unknown field 'extra'/);
});
