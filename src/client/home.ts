/**
 * The home directory for ~/.knock, as os.homedir() gives it, without loading node:os on every
 * start: on Unix libuv's homedir is $HOME when that is set, else the passwd entry; only then is
 * node:os loaded. Loading node:os cost a fresh `knock --spa` ~0.2 ms (issue 11).
 */
export async function homeDirectory(): Promise<string> {
  const home = process.env['HOME'];
  if (home !== undefined && process.platform !== 'win32') return home;
  return (await import('./os-info.js')).homedir();
}
