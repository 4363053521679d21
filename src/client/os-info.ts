/**
 * node:os for the client, behind a dynamic import of this module (client/home.ts, keygen): the
 * bundle (scripts/bundle.mjs) initializes a module reached only that way on first use, so a knock
 * with $HOME set never loads node:os. (An `import('node:os')` would stay a real dynamic import in
 * the bundle, which bin/knock's vm.Script cannot run.)
 */
export { homedir, hostname, userInfo } from 'node:os';
