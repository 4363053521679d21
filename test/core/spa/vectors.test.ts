import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { repoRoot } from '../../helpers/paths.js';
import { ReplaySet } from '../../../src/core/spa/replay.js';
import { SpaVerifier } from '../../../src/core/spa/verify.js';
import { REJECT_REASONS } from '../../../src/core/spa/wire.js';
import { generateSpaVectors, vectorSetup, type SpaVectorFile } from '../../vectors/gen-spa.js';

const file = JSON.parse(readFileSync(join(repoRoot, 'test', 'vectors', 'spa.json'), 'utf8')) as SpaVectorFile;

test('committed test/vectors/spa.json equals the generator output (regenerate with gen-spa.js --write)', () => {
  assert.deepEqual(generateSpaVectors(), file);
});

test('vectors cover every valid path and the required reject reasons', () => {
  const reasons = new Set(file.vectors.flatMap((v) => (v.expect.ok ? [] : [v.expect.reason])));
  for (const r of ['malformed', 'bad-version', 'unknown-key', 'stale', 'future', 'bad-mac', 'forged', 'revoked', 'expired',
    'replayed', 'wrong-server', 'source-mismatch', 'policy-source', 'policy-door'] as const) {
    assert.ok(reasons.has(r), `no vector for ${r}`);
    assert.ok(REJECT_REASONS.includes(r));
  }
  assert.ok(file.vectors.filter((v) => v.expect.ok).length >= 5);
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
      const authenticated = ['revoked', 'expired', 'wrong-server', 'source-mismatch', 'policy-source', 'policy-door', 'replay-full'];
      // an Ed25519 replay is turned away right after mac1, before the signature: not authenticated
      if (r.reason === 'replayed' && keyring.byId(r.keyId ?? '')?.type === 'hmac') authenticated.push('replayed');
      assert.equal(r.key !== undefined, authenticated.includes(r.reason), 'key name only when authenticated');
      assert.equal(ver.stats.granted, 0);
    }
  });
}
