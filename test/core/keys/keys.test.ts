import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { isAppError } from '../../../src/core/errors.js';
import { fromB64, keyIdHex, mac1Key, toB64 } from '../../../src/core/keys/id.js';
import { Keyring } from '../../../src/core/keys/keyring.js';
import { formatKeyRecord, keyStatus, parseDate, parseKeyRecord } from '../../../src/core/keys/record.js';
import { clientKeyFromSecret, clientKeyFromSeed, formatClientKey, formatPublicLine, parseClientKey, parsePublicLine } from '../../../src/core/keys/client.js';

const pub = new Uint8Array(32).fill(7);

test('key ids and mac1 key follow the documented derivations', () => {
  const exp = createHash('sha256').update('knockd-ts key id v1\0').update(pub).digest().subarray(0, 8).toString('hex');
  assert.equal(keyIdHex('ed25519', pub), exp);
  const expH = createHash('sha256').update('knockd-ts hmac id v1\0').update(pub).digest().subarray(0, 8).toString('hex');
  assert.equal(keyIdHex('hmac', pub), expH);
  assert.notEqual(exp, expH);
  assert.equal(Buffer.from(mac1Key(pub)).toString('hex'), createHash('sha256').update('knockd-ts mac1 v1\0').update(pub).digest('hex'));
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
  const rec = parseKeyRecord(`name = alice\ntype = ed25519\npublic = ${toB64(pub)}\ndoors = ssh, web\nfrom = 10.0.0.0/8,2001:db8::/32\nexpires = 2026-06-01\nmax_ttl = 300\n`, 'f');
  assert.equal(rec.id, keyIdHex('ed25519', pub));
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
});

test('malformed key records are refused with file, line and key', () => {
  const P = toB64(pub);
  const cases: [string, RegExp][] = [
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
  const a = parseKeyRecord(`name = a\ntype = ed25519\npublic = ${toB64(pub)}\n`, 'f');
  const k = new Keyring([a]);
  assert.equal(k.byId(a.id)?.name, 'a');
  assert.equal(k.byName('a')?.id, a.id);
  assert.throws(() => new Keyring([a, { ...a, name: 'b' }]), /same key id/);
});

test('client key files and public lines', () => {
  const k = clientKeyFromSeed(new Uint8Array(32).fill(1));
  const text = formatClientKey(k, 'me@host');
  assert.match(text, /^knockd-ts-key v1\n/);
  const back = parseClientKey(text, 'key');
  assert.equal(back.id, k.id);
  assert.deepEqual(back.publicKey, k.publicKey);
  const line = formatPublicLine(k.publicKey!, 'me@host');
  assert.match(line, /^knock-ed25519 [A-Za-z0-9+/]{43}= me@host$/);
  assert.deepEqual(parsePublicLine(line).publicKey, k.publicKey);
  assert.throws(() => parsePublicLine('ssh-ed25519 AAAA x'), /expected 'knock-ed25519/);
  assert.throws(() => parsePublicLine('knock-ed25519 AAAA'), /not base64 of 32 bytes/);
  const h = clientKeyFromSecret(new Uint8Array(32).fill(2), 'erin');
  assert.equal(parseClientKey(formatClientKey(h), 'k').name, 'erin');
  assert.throws(() => parseClientKey('hello\n', 'k'), /k:1: not a knockd-ts key file/);
  assert.throws(() => parseClientKey(text.replace(/id: \w+/, 'id: 0000000000000000'), 'k'), /does not match/);
  assert.throws(() => parseClientKey(text + 'extra: 1\n', 'k'), /unknown field 'extra'/);
});
