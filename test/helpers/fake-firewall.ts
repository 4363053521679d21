/**
 * A fake firewall behind the daemon's command runner port. It understands a tiny command
 * language so that door recipes behave like iptables ones:
 *   fw -I RULE   insert (a rule may be present several times, as with iptables -I)
 *   fw -D RULE   delete one; exit 1 "Bad rule" when absent (as iptables -D)
 *   fw -C RULE   exit 0 when present, 1 otherwise
 *   A || B, ! A, true, false
 * Every command is recorded with its lane. `hold()` keeps commands pending until `release()`
 * (a start command "still running"); `flush()` empties the rule set from outside (iptables -F).
 */
import type { CommandResult, Lane } from '../../src/core/engine/effects.js';
import type { RunnerPort } from '../../src/daemon/ports.js';

const OK: CommandResult = { exitCode: 0, timedOut: false, failed: false, durationMs: 1 };
const fail = (msg: string): CommandResult => ({ exitCode: 1, timedOut: false, failed: true, durationMs: 1, stderrTail: `${msg}\n` });

export class FakeFirewall implements RunnerPort {
  readonly rules = new Map<string, number>();
  readonly ran: Array<{ command: string; lane: Lane }> = [];
  /** Return a result to override the interpreter for one command (then it is removed). */
  readonly overrides: Array<(command: string) => CommandResult | undefined> = [];
  #held: Array<() => void> | undefined;
  closed = false;

  count(rule: string): number { return this.rules.get(rule) ?? 0; }
  flush(): void { this.rules.clear(); }
  hold(): void { this.#held ??= []; }
  release(): void { const h = this.#held ?? []; this.#held = undefined; for (const f of h) f(); }
  lanes(re: RegExp): Lane[] { return this.ran.filter((r) => re.test(r.command)).map((r) => r.lane); }

  run(command: string, lane: Lane): Promise<CommandResult> {
    this.ran.push({ command, lane });
    const exec = (): CommandResult => {
      for (let i = 0; i < this.overrides.length; i++) {
        const r = this.overrides[i]?.(command);
        if (r) { this.overrides.splice(i, 1); return r; }
      }
      return this.#eval(command);
    };
    if (this.#held) { const h = this.#held; return new Promise((resolve) => h.push(() => resolve(exec()))); }
    return Promise.resolve(exec());
  }

  async close(): Promise<void> { this.closed = true; }

  #eval(command: string): CommandResult {
    const alts = command.split('||').map((s) => s.trim());
    let r = fail('empty');
    for (const a of alts) { r = this.#one(a); if (!r.failed) return r; }
    return r;
  }

  #one(cmd: string): CommandResult {
    if (cmd.startsWith('!')) { const r = this.#one(cmd.slice(1).trim()); return r.failed ? OK : fail('negated'); }
    if (cmd === 'true') return OK;
    if (cmd === 'false') return fail('false');
    const m = /^fw -([IDC]) (\S+)$/.exec(cmd);
    if (!m) return fail(`fw: cannot parse '${cmd}'`);
    const [, op, rule] = m as unknown as [string, string, string];
    const n = this.count(rule);
    if (op === 'I') { this.rules.set(rule, n + 1); return OK; }
    if (op === 'C') return n > 0 ? OK : fail('fw: Bad rule (does a matching rule exist in that chain?)');
    if (n === 0) return fail('fw: Bad rule (does a matching rule exist in that chain?)');
    if (n === 1) this.rules.delete(rule); else this.rules.set(rule, n - 1);
    return OK;
  }
}
