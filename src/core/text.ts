/**
 * Untrusted text on a terminal. Names, comments, door names and addresses read from key records,
 * the audit log or the network may carry control characters: ESC starts terminal sequences (an
 * OSC 52 sequence writes the reader's clipboard, others retitle or redraw the screen), CR and
 * BS overwrite what was printed, and bidirectional overrides reorder it ("Trojan Source").
 *
 *   hasControl(s)   true when `s` holds any of them: input (key names, comments, record files)
 *                   is refused with it, so such text never gets in;
 *   printable(s)    the one escaping function for every human output (`knockd keys`, `audit`,
 *                   `status`, log lines for humans): each such character becomes a visible
 *                   escape (\x1b, \u202e), so nothing reaches the terminal as a control, and a
 *                   too-long value is cut with an ellipsis.
 *
 * The set: C0 (U+0000-U+001F, tab included), DEL (U+007F), C1 (U+0080-U+009F), the line and
 * paragraph separators (U+2028, U+2029) and the bidirectional embeddings, overrides and isolates
 * (U+202A-U+202E, U+2066-U+2069), plus lone surrogates (not text). Pure.
 */

// eslint-disable-next-line no-control-regex
const CONTROL = /[\u0000-\u001f\u007f-\u009f\u2028\u2029\u202a-\u202e\u2066-\u2069]|[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/;
// eslint-disable-next-line no-control-regex
const CONTROL_G = new RegExp(CONTROL.source, 'g');

export function hasControl(s: string): boolean {
  return CONTROL.test(s);
}

/** Escape sequence shown for one refused character. */
function escape(c: string): string {
  const n = c.charCodeAt(0);
  return n <= 0xff ? `\\x${n.toString(16).padStart(2, '0')}` : `\\u${n.toString(16).padStart(4, '0')}`;
}

/**
 * `s` with every control character replaced by a visible escape, cut to `max` characters
 * (an ellipsis marks the cut). Not reversible: for display only.
 */
export function printable(s: string, max = Infinity): string {
  let t = String(s).replace(CONTROL_G, escape);
  if (t.length > max) t = t.slice(0, Math.max(0, max - 1)) + '…';
  return t;
}

/** The message fragment used when refusing input: which character, where. */
export function describeControl(s: string): string {
  const m = CONTROL.exec(s);
  if (!m) return '';
  return `a control character (${escape(m[0])}) at position ${m.index + 1}`;
}
