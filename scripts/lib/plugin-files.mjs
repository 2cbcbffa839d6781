// @ts-check
// The plugin's paths and names as the TypeScript states them (src/host/plugin-files.ts, which
// imports nothing), for the build scripts: compiled with esbuild and imported, so that a path or
// a name is written in one place only.
import { readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { transformSync } from "esbuild";

const root = join(dirname(new URL(import.meta.url).pathname), "../..");

/** @returns {Promise<typeof import("../../src/host/plugin-files.js")>} src/host/plugin-files.ts's exports. */
export async function pluginFiles() {
  const code = transformSync(readFileSync(join(root, "src/host/plugin-files.ts"), "utf8"), { loader: "ts", format: "esm" }).code;
  return import(`data:text/javascript;base64,${Buffer.from(code).toString("base64")}`);
}

/**
 * Fills in the words of a template written between at-signs, such as PACKAGE, from `values` (src/host/plugin-files.ts's exports and the
 * caller's own): the launcher's sh front, the maintainer scripts, the package's control file. A
 * word with no string value is an error naming the template, never left as written.
 * @param {string} text @param {Record<string, unknown>} values @param {string} template
 */
export function fillIn(text, values, template) {
  return text.replace(/@([A-Z_]+)@/g, (m, name) => {
    const value = values[name];
    if (typeof value !== "string") throw new Error(`${template}: no value for ${m}`);
    return value;
  });
}

/**
 * The programs' table as JSON, for scripts/code-cache.mjs, which runs on a node at postinst
 * without esbuild: written next to the bundles by scripts/gen-hooks.mjs.
 */
export const PROGRAMS_FILE = "programs.json";
