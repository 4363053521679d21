/**
 * Marked sections in bench/RESULTS.md: a benchmark that is not `npm run bench` (e.g. the nft
 * daemon figures of bench/nft-daemon.ts) owns a block between `<!-- section:NAME -->` and
 * `<!-- /section:NAME -->`, which it replaces in place; `npm run bench` rewrites the file and
 * carries the blocks over (keepSections).
 */
import { existsSync, readFileSync, writeFileSync } from 'node:fs';

const open = (name: string): string => `<!-- section:${name} -->`;
const close = (name: string): string => `<!-- /section:${name} -->`;
const BLOCK = /<!-- section:([\w.-]+) -->\n[\s\S]*?<!-- \/section:\1 -->\n?/g;

/** `text` with the block NAME replaced by `body` (appended when absent). */
export function replaceSection(text: string, name: string, body: string): string {
  const block = `${open(name)}\n${body.trimEnd()}\n${close(name)}\n`;
  const at = text.indexOf(open(name));
  const end = text.indexOf(close(name));
  if (at >= 0 && end > at) return text.slice(0, at) + block + text.slice(end + close(name).length).replace(/^\n/, '');
  return text.trim() === '' ? block : `${text.trimEnd()}\n\n${block}`;
}

/** The new text of a results file with the marked blocks of the old one it does not have itself. */
export function keepSections(file: string, text: string): string {
  if (!existsSync(file)) return text;
  let out = text;
  for (const m of readFileSync(file, 'utf8').matchAll(BLOCK)) if (!out.includes(open(m[1] as string))) out = `${out.trimEnd()}\n\n${m[0].trimEnd()}\n`;
  return out;
}

/** A markdown table. */
export function mdTable(head: readonly string[], rows: readonly (readonly string[])[]): string {
  const w = head.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (r: readonly string[]) => `| ${r.map((c, i) => c.padEnd(w[i] as number)).join(' | ')} |`;
  return [line(head), `|${w.map((n) => '-'.repeat(n + 2)).join('|')}|`, ...rows.map(line)].join('\n');
}

export function writeSection(file: string, name: string, body: string): void {
  writeFileSync(file, replaceSection(existsSync(file) ? readFileSync(file, 'utf8') : '', name, body));
}
