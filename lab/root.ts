import { existsSync } from "node:fs";
import { dirname, join } from "node:path";

/**
 * The repository: the nearest directory with a package.json above this module, run by tsx (ESM)
 * or bundled into dist/bench.cjs (CommonJS, where import.meta is empty).
 */
export const ROOT = (() => {
  let dir = import.meta.dirname ?? __dirname;
  while (!existsSync(join(dir, "package.json")) && dirname(dir) !== dir) dir = dirname(dir);
  return dir;
})();
