// The body of every hook executable (hooks/<hook>): scripts/gen-hooks.mjs writes a `#!` line and
// `const GQB_HOOK = "<hook>";` in front of this file's code, compiled by esbuild to plain CommonJS.
//
// It loads dist/<hook>.cjs with V8's code cache: compiling the bundle is the largest part of a
// hook's own start-up, and with the cache V8 skips it. Two caches per build of the bundle, written
// by scripts/code-cache.mjs: `<hook>.<build>.env.cache` from a run on the environment alone,
// `<hook>.<build>.json.cache` from a run that also reads JSON input. A run deserialises only the
// one for its mode (the JSON validator's code is ~20 % of the larger one); a wrong guess costs
// time, never correctness. A cache from another Node/V8 is rejected by V8 itself and the bundle
// compiles as usual. This code is inlined in each hook rather than required: one file less to
// resolve at every start. It must stay a plain script: no imports (each costs start-up), only
// require() of Node's built-ins.

/** The hook this executable runs; defined by the line gen-hooks writes before this code. */
declare const GQB_HOOK: string;

const fs = require("node:fs") as typeof import("node:fs");
// Installed by symlink, a hook still runs from its real file (Node resolves the main module's
// links), so the bundle is found next to it.
const dist = `${__dirname}/../dist`;
const file = `${dist}/${GQB_HOOK}.cjs`;
let source: string;
try {
  source = fs.readFileSync(file, "utf8"); // Node's one-call path; the bundle is ASCII anyway
} catch {
  process.stderr.write(`${GQB_HOOK}: error [NOT_BUILT]: ${file} is missing; run 'npm run build' in the plugin directory\n`);
  process.exit(1);
}
// JSON comes from --input or from a stdin that is neither /dev/null nor a terminal (see --help):
// the same rule as readJsonInput in src/cli/args.ts, written again because this runs first.
let json = process.argv.some((a) => a === "--input" || a.startsWith("--input="));
if (!json) {
  try {
    json = !fs.fstatSync(0).isCharacterDevice();
  } catch {}
}
// A cache is named after the build of the bundle it was made from (its last line, scripts/bundle.mjs):
// V8 checks a cache against the source's length only, and would run an older build's code for a
// new bundle of the same length.
const build = source.slice(source.lastIndexOf("\n// build ") + 10).trim();
const cacheName = (mode: string) => `${dist}/${GQB_HOOK}.${build}.${mode}.cache`;
const cacheFile = cacheName(json ? "json" : "env");
// Read into a plain Uint8Array: readFileSync's Buffer path costs a first use ~0.1 ms more. A short
// read would only make V8 reject the cache.
let cachedData: Uint8Array | undefined;
for (const f of [cacheFile, cacheName(json ? "env" : "json")]) {
  try {
    const fd = fs.openSync(f, "r");
    try {
      cachedData = new Uint8Array(fs.fstatSync(fd).size);
      fs.readSync(fd, cachedData, 0, cachedData.length, 0);
    } finally {
      fs.closeSync(fd);
    }
    break;
  } catch {}
}
// What Module.wrap() does, without loading node:module for it.
const wrapped = `(function (exports, require, module, __filename, __dirname) { ${source}\n});`;
const { Script } = require("node:vm") as typeof import("node:vm");
const script = new Script(wrapped, { filename: file, cachedData });
// GQB_CODE_CACHE=write: scripts/code-cache.mjs makes the cache; =report: tests see whether V8 took it.
const cacheMode = process.env["GQB_CODE_CACHE"];
if (cacheMode === "write") process.once("exit", () => fs.writeFileSync(cacheFile, script.createCachedData()));
if (cacheMode === "report") {
  const state = cachedData === undefined ? "missing" : script.cachedDataRejected ? "rejected" : "accepted";
  process.stderr.write(`${GQB_HOOK}: code cache ${json ? "json" : "env"} ${state} (${cacheFile})\n`);
}
(script.runInThisContext() as (...args: unknown[]) => void).call(module.exports, module.exports, require, module, file, dist);
