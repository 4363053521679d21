/** Tests run with the repository root as the working directory (npm test, scripts/run-tests.mjs). */
import { join } from 'node:path';
import { existsSync } from 'node:fs';

function findRoot(): string {
  const cwd = process.cwd();
  if (!existsSync(join(cwd, 'package.json'))) {
    throw new Error(`tests must run from the repository root (cwd ${cwd} has no package.json)`);
  }
  return cwd;
}
export const repoRoot = findRoot();
export const fixture = (...p: string[]): string => join(repoRoot, 'test', 'fixtures', ...p);
export const bin = (name: 'knockd' | 'knock'): string => join(repoRoot, 'bin', name);
