/**
 * Man pages (docs/man/*.md → dist/man with go-md2man, scripts/build-man.sh): they render without
 * warnings, package.json lists them, and they document every option the programs' own --help
 * shows and every key the config parser knows (taken from the programs, so a new option or key
 * fails here until its man page has a paragraph for it).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { bin, repoRoot } from '../helpers/paths.js';

const has = (c: string) => spawnSync('sh', ['-c', `command -v ${c}`]).status === 0;
const md = (page: string) => readFileSync(join(repoRoot, 'docs', 'man', `${page}.md`), 'utf8');
const work = mkdtempSync(join(tmpdir(), 'kts-man-'));
process.on('exit', () => rmSync(work, { recursive: true, force: true }));

function help(prog: 'knock' | 'knockd', args: string[]): string {
  const r = spawnSync(process.execPath, [bin(prog), ...args], { encoding: 'utf8' });
  return r.stdout + r.stderr;
}
const longOpts = (text: string) => [...new Set(text.match(/--[a-z][a-z0-9-]*/g) ?? [])];
const shortOpts = (text: string) => [...new Set([...text.matchAll(/(?:^|[\s[|,])-([A-Za-z0-9])\b/gm)].map((m) => `-${m[1]}`))];
/** commander's option lines: `  -c, --config <file>  text` (not options named in descriptions) */
const commanderOpts = (text: string) => [...text.matchAll(/^ {2}(?:(-[A-Za-z0-9]), )?(--[a-z][a-z0-9-]*)/gm)].flatMap((m) => (m[1] ? [m[1], m[2] as string] : [m[2] as string]));
const missingIn = (page: string, opts: string[]) => opts.filter((o) => !md(page).includes(`**${o}**`));

test('go-md2man builds the pages package.json lists; man renders them without warnings', { skip: has('go-md2man') ? undefined : 'go-md2man not installed (scripts/setup.sh)' }, (t) => {
  const r = spawnSync('sh', [join(repoRoot, 'scripts', 'build-man.sh')], { cwd: repoRoot, encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  const pages = readdirSync(join(repoRoot, 'docs', 'man')).map((f) => f.replace(/\.md$/, '')).sort();
  assert.deepEqual(pages, ['knock.1', 'knockd.8', 'knockd.conf.5']);
  const pkg = JSON.parse(readFileSync(join(repoRoot, 'package.json'), 'utf8')) as { man: string[]; version: string };
  assert.deepEqual([...pkg.man].sort(), pages.map((p) => `./dist/man/${p}`));
  for (const p of pages) {
    const roff = readFileSync(join(repoRoot, 'dist', 'man', p), 'utf8');
    assert.match(roff, new RegExp(`^\\.TH "[A-Z.]+" "${p.slice(-1)}" "[A-Z][a-z]+ \\d{4}" "knockd-ts ${pkg.version.replace(/\./g, '\\.')}"`, 'm'));
    if (!has('man')) { t.diagnostic('man not installed: rendering not checked'); continue; }
    const m = spawnSync('sh', ['-c', `MANWIDTH=80 man --warnings -l ${join(repoRoot, 'dist', 'man', p)} 2>&1 >/dev/null`], { encoding: 'utf8' });
    assert.equal(m.stdout.trim(), '', `${p}: ${m.stdout}`);
  }
});

test('knock(1) documents every option of knock -h', () => {
  const text = help('knock', ['-h']);
  assert.ok(longOpts(text).length >= 15, text);
  assert.deepEqual(missingIn('knock.1', [...longOpts(text), ...shortOpts(text)]), []);
});

test('knockd(8) documents every option and command of knockd, keys, audit and status', () => {
  const conf = join(work, 'a.conf');
  writeFileSync(conf, `[options]\n\tAuditLog = ${join(work, 'audit.log')}\n\tKeysDir = ${join(work, 'keys')}\n`);
  const root = help('knockd', ['-h']);
  const keys = help('knockd', ['-c', conf, 'keys', '--help']);
  const texts = [root, help('knockd', ['-c', conf, 'keys', 'add', '--help']), help('knockd', ['-c', conf, 'audit', '--help']),
    help('knockd', ['-c', conf, 'status', '--help']), help('knockd', ['firewall', '--help'])];
  // the commands knockd -h lists ("knockd [-c FILE] keys ...", "knockd help [COMMAND]"): each has a section
  const commands = [...root.matchAll(/^ {2}knockd (?:\[-c FILE\] )?([a-z]+)\b/gm)].map((m) => m[1] as string);
  assert.ok(commands.length >= 4, root);
  assert.deepEqual(commands.filter((c) => !new RegExp(`^## ${c}$`, 'm').test(md('knockd.8'))), []);
  assert.match(keys, /Commands:/);
  const subs = [...keys.matchAll(/^ {2}([a-z]+) /gm)].map((m) => m[1] as string).filter((s) => s !== 'help');
  assert.deepEqual(subs, ['add', 'list', 'show', 'set', 'revoke', 'unrevoke', 'remove']);
  assert.deepEqual(subs.filter((s) => !md('knockd.8').includes(`**knockd keys ${s}**`)), []);
  const opts = texts.flatMap(commanderOpts);
  assert.ok(opts.length >= 30, texts.join('\n'));
  assert.deepEqual(missingIn('knockd.8', [...new Set(opts)]), []);
});

test('knockd.conf(5) documents every key the parser knows', () => {
  const known = (section: string): string[] => {
    const conf = join(work, `k-${section === '[options]' ? 'o' : 'd'}.conf`);
    writeFileSync(conf, `${section}\nNoSuchKey = 1\n`);
    const m = /\(known: ([^)]+)\)/.exec(help('knockd', ['--check', '-c', conf]));
    assert.ok(m, `no list of known keys for ${section}`);
    return (m[1] as string).split(', ');
  };
  const keys = [...known('[options]'), ...known('[door]')];
  assert.ok(keys.length >= 25, keys.join(' '));
  const page = md('knockd.conf.5').toLowerCase();
  assert.deepEqual(keys.filter((k) => !page.includes(`**${k.toLowerCase()}**`)), []);
});
