/** The NAT topology helper itself: isolation, masquerading, coturn, cleanup. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { e2eSkipReason } from '../helpers/root.js';
import { createNat } from '../helpers/nat.js';
import { netnsExists, runCmd } from '../helpers/netns.js';

const ECHO_SRC = `const s=require('node:net').createServer((c)=>{c.end(c.remoteAddress+'\\n')});s.listen(2500,process.argv[1],()=>console.log('listening'));`;
const ASK = `const c=require('node:net').connect(2500,process.argv[1]);let d='';c.on('data',(x)=>d+=x);c.on('close',()=>{process.stdout.write(d)});c.on('error',()=>process.exit(2));`;

test('createNat: isolated namespaces, the server sees the router\'s outside address, cleanup removes everything', async (t) => {
  const skip = e2eSkipReason();
  if (skip) { t.skip(skip); return; }
  const nat = await createNat('harness');
  const names = [nat.client, nat.router, nat.server, nat.stun];
  let pid: number | undefined;
  try {
    for (const ns of names) assert.ok(await netnsExists(ns), ns);
    assert.notEqual((await runCmd('ip', ['link', 'show', 'dev', nat.clientIf])).code, 0, 'no veth end in the host namespace');
    const echo = nat.spawn(nat.server, process.execPath, ['-e', ECHO_SRC, nat.serverV4]);
    pid = echo.pid;
    await new Promise<void>((res) => echo.stdout?.once('data', () => res()));
    const r = await nat.run(nat.client, process.execPath, ['-e', ASK, nat.serverV4]);
    assert.equal(r.stdout.trim(), nat.routerOutsideV4, 'masqueraded');
    assert.notEqual((await nat.run(nat.server, 'ip', ['route', 'get', nat.clientV4])).code, 0, 'server has no route inside');
    assert.doesNotMatch((await runCmd('iptables', ['-t', 'nat', '-S'])).stdout, /MASQUERADE.*10\.202\./, 'host nat table untouched');
  } finally {
    await nat.cleanup();
  }
  for (const ns of names) assert.equal(await netnsExists(ns), false, ns);
  assert.ok(pid !== undefined);
  assert.throws(() => process.kill(pid!, 0), /ESRCH/);
  assert.throws(() => nat.spawn(nat.server, 'true', []), /cleaned up/);
});
