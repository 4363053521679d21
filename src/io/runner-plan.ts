/**
 * What the command runner (io/runner.ts) sends to its bash child: the bash program itself and,
 * per command, whether bash may exec its words directly or must hand it to /bin/sh -c; and the
 * runner's options. Pure.
 *
 * Protocol (pipes only): the runner reads a nonce line, then one job per line
 * "<id> <d|s> <command>"; it writes "\x1e<nonce> S <id> <pgid>" when a job started and
 * "\x1e<nonce> E <id> <status>" when it ended. Anything else on its output is stderr text.
 */

export const PROGRAM = `set -m -f +h
exec 2>&1
IFS= read -r n || exit 0
while IFS=' ' read -r id mode cmd; do
  case $mode in
    d) { $cmd </dev/null >/dev/null; printf '\\036%s E %s %s\\n' "$n" "$id" "$?"; } & ;;
    s) { /bin/sh -c "$cmd" </dev/null >/dev/null; printf '\\036%s E %s %s\\n' "$n" "$id" "$?"; } & ;;
    *) continue ;;
  esac
  printf '\\036%s S %s %s\\n' "$n" "$id" "$!"
done
`;

/** bash and dash builtins and shell keywords: such a first word goes through /bin/sh -c. */
const NOT_DIRECT = new Set([
  '.', ':', '[', '[[', ']]', '{', '}', '!', 'alias', 'bg', 'bind', 'break', 'builtin', 'caller', 'case', 'cd',
  'command', 'compgen', 'complete', 'compopt', 'continue', 'declare', 'dirs', 'disown', 'do', 'done', 'echo',
  'elif', 'else', 'enable', 'esac', 'eval', 'exec', 'exit', 'export', 'false', 'fc', 'fg', 'fi', 'for',
  'function', 'getopts', 'hash', 'help', 'history', 'if', 'in', 'jobs', 'kill', 'let', 'local', 'logout',
  'mapfile', 'popd', 'printf', 'pushd', 'pwd', 'read', 'readarray', 'readonly', 'return', 'select', 'set',
  'shift', 'shopt', 'source', 'suspend', 'test', 'then', 'time', 'times', 'trap', 'true', 'type', 'typeset',
  'ulimit', 'umask', 'unalias', 'unset', 'until', 'wait', 'while',
]);
const FIRST_WORD = /^[A-Za-z0-9_./+-]+$/;
const SAFE_LINE = /^[ \t]*[A-Za-z0-9_./+-]+([ \t]+[A-Za-z0-9_./+:,=@%-]+)*[ \t]*$/;

export type CommandPlan = 'direct' | 'shell' | 'fallback';

/**
 * How the runner starts `command` (pure). 'direct': plain words, executed by the runner
 * itself (same argv /bin/sh would build); 'shell': `/bin/sh -c`; 'fallback': cannot be sent
 * as one protocol line (newline, NUL), so runShell runs it.
 */
export function planCommand(command: string): CommandPlan {
  if (command.includes('\n') || command.includes('\0')) return 'fallback';
  if (!SAFE_LINE.test(command)) return 'shell';
  const first = command.trim().split(/[ \t]+/)[0] ?? '';
  if (!FIRST_WORD.test(first) || NOT_DIRECT.has(first)) return 'shell';
  return 'direct';
}

export interface RunnerOptions {
  /** bash to start (default /bin/bash). */
  bash?: string;
  /** Kill a command's process group after this many ms (SIGTERM, SIGKILL 2 s later). 0 = none. */
  timeoutMs?: number;
  /** Extra environment variables for the runner and so for every command. */
  env?: Record<string, string>;
  /** Bytes of stderr kept per command (default 2048). */
  stderrTailBytes?: number;
  /** Commands running at once (default 64); more wait in their lane (core/engine/lanes.ts). */
  maxRunning?: number;
  /** Running places only stop commands (lane `close`) may use (default 8). */
  reserveForClose?: number;
  /** Commands waiting per open lane (default 1024); beyond it run() fails at once. Stops are never refused. */
  maxQueued?: number;
  /** Operational messages (runner died, restarted, fell back to execa). */
  onNotice?: (msg: string, detail?: Record<string, unknown>) => void;
  /**
   * Replace the runner with a fresh one, when idle, after this many commands (default 1000).
   * bash keeps the status of every finished background job (up to its CHILD_MAX); measured:
   * +110 bytes and a slower fork loop per job (2500 jobs took 1.7 s at the start, 7.8 s after
   * 50,000), so a long-lived runner is recycled rather than left to grow.
   */
  recycleAfter?: number;
}
