/** The namespace harness itself: isolation checks, guarded service, probe, cleanup. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { e2eSkipReason } from '../helpers/root.js';
import { createPair, netnsExists, runCmd } from '../helpers/netns.js';
import { guardService, probe } from '../helpers/service.js';

test('createPair builds an isolated pair; guardService/probe work; cleanup removes everything', async (t) => {
  const skip = e2eSkipReason();
  if (skip) { t.skip(skip); return; }
  const pair = await createPair('h6harness');
  let pid: number | undefined;
  try {
    assert.ok(pair.serverIf.length <= 15 && pair.clientIf.length <= 15);
    assert.ok(await netnsExists(pair.server));
    assert.ok(await netnsExists(pair.client));
    assert.notEqual(pair.server, pair.client);
    // the veth ends do not exist in the host namespace
    const host = await runCmd('ip', ['link', 'show', 'dev', pair.clientIf]);
    assert.notEqual(host.code, 0, 'client veth must not be visible in the host namespace');
    const route = await pair.run(pair.client, 'ip', ['-6', 'route', 'get', pair.serverV6]);
    assert.match(route.stdout, new RegExp(`dev ${pair.clientIf}`));
    assert.equal((await pair.run(pair.client, 'ip', ['route', 'show', 'default'])).stdout.trim(), '');

    const svc4 = await guardService(pair, 2400, 4);
    pid = svc4.child.pid;
    await guardService(pair, 2400, 6);
    assert.equal(await probe(pair, pair.serverV4, 2400), false, 'REJECT rule closes v4');
    assert.equal(await probe(pair, pair.serverV6, 2400), false, 'REJECT rule closes v6');
    assert.equal((await pair.run(pair.server, 'iptables', ['-D', 'INPUT', '-p', 'tcp', '--dport', '2400', '-j', 'REJECT', '--reject-with', 'tcp-reset'])).code, 0);
    assert.equal((await pair.run(pair.server, 'ip6tables', ['-D', 'INPUT', '-p', 'tcp', '--dport', '2400', '-j', 'REJECT', '--reject-with', 'tcp-reset'])).code, 0);
    assert.equal(await probe(pair, pair.serverV4, 2400), true, 'open without the rule (v4)');
    assert.equal(await probe(pair, pair.serverV6, 2400), true, 'open without the rule (v6)');
    assert.equal(await probe(pair, pair.serverV4, 2401), false, 'nothing listens on 2401');
    // the host firewall was not touched
    const hostRules = await runCmd('iptables', ['-S', 'INPUT']);
    assert.doesNotMatch(hostRules.stdout, /--dport 2400/);
  } finally {
    await pair.cleanup();
  }
  await pair.cleanup(); // idempotent
  assert.equal(await netnsExists(pair.server), false);
  assert.equal(await netnsExists(pair.client), false);
  assert.ok(pid !== undefined);
  assert.throws(() => process.kill(pid!, 0), /ESRCH/, 'listener was killed');
  assert.throws(() => pair.spawn(pair.server, 'true', []), /cleaned up/);
});
