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
