import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { repoRoot } from '../../helpers/paths.js';
import { AppError } from '../../../src/core/errors.js';
import { ed25519KeyProblem, isWeakEncoding, weakEncodingProblem } from '../../../src/core/keys/ed25519-point.js';
import { formatPublicLine, parsePublicLine } from '../../../src/core/keys/client.js';
import { toB64 } from '../../../src/core/keys/id.js';
import { parseKeyRecord } from '../../../src/core/keys/record.js';
import { ReplaySet } from '../../../src/core/spa/replay.js';
import { SpaVerifier } from '../../../src/core/spa/verify.js';
import { REJECT_REASONS } from '../../../src/core/spa/wire.js';
import { generateSpaVectors, vectorSetup, type SpaVectorFile } from '../../vectors/gen-spa.js';

const file = JSON.parse(readFileSync(join(repoRoot, 'test', 'vectors', 'spa.json'), 'utf8')) as SpaVectorFile;
/** Reasons decided after authentication: they name the key and carry details. */
const AUTHENTICATED = ['revoked', 'expired', 'wrong-server', 'source-mismatch', 'policy-source', 'policy-door', 'policy-address', 'policy-nat', 'replay-full'];

test('committed test/vectors/spa.json equals the generator output (regenerate with gen-spa.js --write)', () => {
  assert.deepEqual(generateSpaVectors(), file);
});

test('vectors cover every valid path and the required reject reasons', () => {
  const reasons = new Set(file.vectors.flatMap((v) => (v.expect.ok ? [] : [v.expect.reason])));
  for (const r of ['malformed', 'bad-version', 'unknown-key', 'stale', 'future', 'bad-mac', 'forged', 'revoked', 'expired',
    'replayed', 'wrong-server', 'source-mismatch', 'policy-source', 'policy-door', 'policy-address', 'policy-nat'] as const) {
    assert.ok(reasons.has(r), `no vector for ${r}`);
    assert.ok(REJECT_REASONS.includes(r));
  }
  assert.ok(file.vectors.filter((v) => v.expect.ok).length >= 5);
  assert.ok(file.vectors.some((v) => v.expect.ok && Buffer.from(v.packet, 'hex')[2] === 2), 'a valid v2 vector');
});

for (const v of file.vectors) {
  test(`vector ${v.name} → ${v.expect.ok ? 'grant' : v.expect.reason}`, () => {
    const { keyring, ctx } = vectorSetup(file);
    const replay = new ReplaySet();
    for (const id of v.replayed ?? []) replay.add(new Uint8Array(Buffer.from(id, 'hex')), file.now + 60000);
    const ver = new SpaVerifier(keyring, replay, ctx);
    const r = ver.check(new Uint8Array(Buffer.from(v.packet, 'hex')), v.src, file.now);
    const e = v.expect;
    if (e.ok) {
      assert.equal(r.ok, true, JSON.stringify(r));
      if (!r.ok) return;
      assert.equal(r.grant.key.name, e.key);
      assert.equal(r.grant.door.name, e.door);
      assert.equal(r.grant.doorIndex, file.doors.findIndex((d) => d.name === e.door));
      assert.equal(r.grant.ip.text, e.ip);
      assert.equal(r.grant.grantedTtl, e.grantedTtl);
      assert.equal(r.grant.key.id, keyring.byName(e.key)?.id);
      // the same packet again is a replay
      const again = ver.check(new Uint8Array(Buffer.from(v.packet, 'hex')), v.src, file.now + 1);
      assert.deepEqual(again.ok ? 'granted' : again.reason, 'replayed');
    } else {
      assert.equal(r.ok, false);
      if (r.ok) return;
      assert.equal(r.reason, e.reason);
      // stale/future vectors are genuine requests: authenticated (within the key's clock budget) to say by how much
      assert.equal(r.authenticated, AUTHENTICATED.includes(r.reason) || r.reason === 'stale' || r.reason === 'future', 'authenticated exactly for the reasons decided after the signature');
      assert.equal(r.key !== undefined, r.authenticated, 'key name only when authenticated');
      assert.equal(r.detail !== undefined, r.authenticated && !['replayed'].includes(r.reason), 'details only when authenticated');
      assert.equal(ver.stats.granted, 0);
    }
  });
}

test('weak-key vectors: every small-order point and non-canonical encoding is refused everywhere', () => {
  const problems = new Map<string, number>();
  for (const w of file.weakKeys) problems.set(w.problem, (problems.get(w.problem) ?? 0) + 1);
  assert.equal(problems.get('small-order'), 8, 'the eight small-order points');
  assert.equal(file.weakKeys.filter((w) => w.problem === 'non-canonical').length >= 6 + 2, true, 'non-canonical small-order forms and y >= p encodings');
  assert.ok((problems.get('not-on-curve') ?? 0) >= 1);
  for (const w of file.weakKeys) {
    const b = new Uint8Array(Buffer.from(w.hex, 'hex'));
    assert.equal(ed25519KeyProblem(b), w.problem, w.hex);
    if (w.problem !== 'not-on-curve') {
      assert.equal(isWeakEncoding(b), true, `cheap check misses ${w.hex}`);
      assert.equal(weakEncodingProblem(b), w.problem, `cheap check names another problem for ${w.hex}`);
    }
    const line = formatPublicLine(b, 'x');
    assert.throws(() => parsePublicLine(line), (e: unknown) => e instanceof AppError && e.code === 'ERR_KEY_FILE' && /refused: the public key is/.test(e.message), w.hex);
    // records are loaded with the cheap check: every forgeable key is refused (an off-curve string verifies nothing)
    if (w.problem !== 'not-on-curve') assert.throws(() => parseKeyRecord(`name = w\ntype = ed25519\npublic = ${toB64(b)}\n`, 'w.key', 'w'), /w\.key:3: public = .*refused/);
  }
});
