// @ts-check
// Bundles each hook into one self-contained CommonJS file: one file to load is the fastest start
// Node offers (measured: +8 ms over bare node), and the nodes need no node_modules.
// Whitespace and syntax are minified: a hook reads its whole bundle at every start (~2 us per KB
// measured). Identifiers are kept: esbuild's mangling once broke ajv's generated validators (an
// undefined `.length` inside RuntimeDiskEntry), and function names keep --debug traces readable.
import { createHash } from "node:crypto";
import { appendFileSync, existsSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { build } from "esbuild";
import { pluginFiles } from "./lib/plugin-files.mjs";

// V8 accepts a code cache for any source of the same length: a cache must never outlive the bundle
// it was made from (scripts/code-cache.mjs writes new ones).
const stale = existsSync("dist") ? readdirSync("dist").filter((f) => f.endsWith(".cache")) : [];
for (const f of stale) rmSync(`dist/${f}`);

const hooks = (await pluginFiles()).PROGRAMS.map((p) => p.name);
await build({
  entryPoints: {
    ...Object.fromEntries(hooks.map((h) => [h, `src/cli/${h}.ts`])),
    // Required by the hooks only to explain invalid input (src/host/validate.ts).
    "validators-verbose": "src/generated/validators-verbose.cjs",
    demo: "scripts/demo.ts",
    bench: "bench/run.ts",
  },
  bundle: true,
  platform: "node",
  target: "node18",
  format: "cjs",
  outdir: "dist",
  outExtension: { ".js": ".cjs" },
  charset: "ascii",
  minifyWhitespace: true,
  minifySyntax: true,
  logLevel: "warning",
  // The plugin's version, for `ganeti-qemu-blockdev status` and the cluster-verify hook.
  define: { GQB_PLUGIN_VERSION: JSON.stringify(JSON.parse(readFileSync("package.json", "utf8")).version) },
  // validate.ts reads import.meta.url only when run from the sources, never in a bundle.
  logOverride: { "empty-import-meta": "silent" },
});

// The last line of each hook's bundle names its build, and its code caches carry that name
// (scripts/gen-hooks.mjs): a new bundle never meets an older one's cache.
for (const hook of hooks) {
  const file = `dist/${hook}.cjs`;
  const build = createHash("sha256").update(readFileSync(file)).digest("hex").slice(0, 16);
  appendFileSync(file, `\n// build ${build}\n`);
}
