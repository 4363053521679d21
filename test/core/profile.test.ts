import { test } from 'node:test';
import assert from 'node:assert/strict';
import { findProfile, parseProfiles } from '../../src/core/profile.js';

const GOOD = `# knock profiles
[default]
stun = 192.0.2.50:3478, stun.example.net
key = ~/.knock/key

[myserver]
host     = server.example.org
spa-port = 62202
door     = ssh
allow-ip = auto
ttl      = 60
family   = 4

[lab]
host = 2001:db8::1
key = lab.key
allow-ip = 2001:DB8::7
`;

test('profiles: values, [default] applies to every profile, canonical IPs', () => {
  const f = parseProfiles(GOOD, 'cfg');
  assert.deepEqual([...f.profiles.keys()], ['myserver', 'lab']);
  const m = f.profiles.get('myserver')!;
  assert.equal(m.host, 'server.example.org');
  assert.equal(m.spaPort, 62202);
  assert.equal(m.door, 'ssh');
  assert.equal(m.allowIp, 'auto');
  assert.equal(m.ttl, 60);
  assert.equal(m.family, 4);
  assert.equal(m.key, '~/.knock/key', 'from [default]');
  assert.deepEqual(m.stun, [{ host: '192.0.2.50', port: 3478 }, { host: 'stun.example.net', port: 3478 }]);
  const l = f.profiles.get('lab')!;
  assert.equal(l.key, 'lab.key', 'a profile overrides [default]');
  assert.equal(l.allowIp, '2001:db8::7');
});

test('findProfile: by name first, then by the one profile with that host', () => {
  const f = parseProfiles(GOOD, 'cfg');
  assert.equal(findProfile(f, 'myserver')?.name, 'myserver');
  assert.equal(findProfile(f, 'server.example.org')?.name, 'myserver');
  assert.equal(findProfile(f, '2001:db8::1')?.name, 'lab');
  assert.equal(findProfile(f, 'other'), undefined);
  const two = parseProfiles('[a]\nhost = h\n[b]\nhost = h\n', 'cfg');
  assert.equal(findProfile(two, 'h'), undefined, 'ambiguous host: no profile');
  assert.equal(findProfile(two, 'b')?.name, 'b');
});

const bad: [string, string, RegExp, string][] = [
  ['setting outside a section', 'host = x\n', /^cfg:1: 'host' is outside a \[profile\] section$/, 'ERR_CONFIG_SYNTAX'],
  ['unknown key', '[a]\n\nhots = x\n', /^cfg:3: unknown setting 'hots' \(known: host, spa-port/, 'ERR_CONFIG_SYNTAX'],
  ['repeated key', '[a]\nttl = 5\nttl = 6\n', /^cfg:3: 'ttl' is set twice in \[a\]$/, 'ERR_CONFIG_SYNTAX'],
  ['repeated section', '[a]\n[b]\n[a]\n', /^cfg:3: profile \[a\] appears twice$/, 'ERR_CONFIG_SYNTAX'],
  ['bad section name', '[a b]\n', /^cfg:1: profile name 'a b' must match/, 'ERR_CONFIG_SYNTAX'],
  ['not key = value', '[a]\nhost server\n', /^cfg:2: expected '\[name\]' or 'key = value', got 'host server'$/, 'ERR_CONFIG_SYNTAX'],
  ['bad port', '[a]\nspa-port = 0\n', /^cfg:2: spa-port must be 1-65535 \(got '0'\)$/, 'ERR_CONFIG_VALUE'],
  ['bad ttl', '[a]\nttl = 1h\n', /^cfg:2: ttl must be a whole number/, 'ERR_CONFIG_VALUE'],
  ['bad family', '[a]\nfamily = ipv4\n', /^cfg:2: family must be 4 or 6/, 'ERR_CONFIG_VALUE'],
  ['bad allow-ip', '[a]\nallow-ip = 10.0.0\n', /^cfg:2: allow-ip must be 'auto', 'nat' or/, 'ERR_CONFIG_VALUE'],
  ['bad door', '[a]\ndoor = ssh door\n', /^cfg:2: door 'ssh door' must match/, 'ERR_CONFIG_VALUE'],
  ['bad host', '[a]\nhost = a;b\n', /^cfg:2: host 'a;b' must be a host name or an IP address$/, 'ERR_CONFIG_VALUE'],
  ['bad stun', '[a]\nstun = a:99999\n', /^cfg:2: stun must be a comma-separated list/, 'ERR_CONFIG_VALUE'],
  ['empty key', '[a]\nkey =\n', /^cfg:2: key needs a file name$/, 'ERR_CONFIG_VALUE'],
];
for (const [name, text, re, code] of bad) {
  test(`profiles refuse: ${name}`, () => {
    assert.throws(() => parseProfiles(text, 'cfg'), (e: Error & { code?: string }) => re.test(e.message) && e.code === code);
  });
}

test('profiles: a comment after a value', () => {
  const f = parseProfiles('[a]   # the lab\nallow-ip = auto   # behind NAT\nhost = h\t# tab\n', 'cfg');
  assert.equal(f.profiles.get('a')?.allowIp, 'auto');
  assert.equal(f.profiles.get('a')?.host, 'h');
});

test('profiles: CRLF, comments and blank lines are fine; [__proto__] is just a name', () => {
  const f = parseProfiles('# c\r\n\r\n[__proto__]\r\nhost = h\r\n', 'cfg');
  assert.equal(f.profiles.get('__proto__')?.host, 'h');
  assert.equal(({} as Record<string, unknown>).host, undefined);
});
