// What `npm run build` makes of the hooks (scripts/gen-hooks.mjs, scripts/code-cache.mjs): the
// interpreter they name, and V8 code caches that V8 actually takes in each input mode. A rejected
// or missing cache still runs, only ~8 ms slower at every start: nothing else would notice.
import { accessSync, constants, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import t from "tap";
import { loadEnv, ROOT, runHook } from "./helpers/hook.js";
import { tempDir } from "./helpers/tmp.js";

const HOOKS = ["instance-start", "disk-add", "disk-remove"];

t.test("each hook names the Node that built it", async (t) => {
  for (const hook of HOOKS) {
    const first = readFileSync(join(ROOT, "hooks", hook), "utf8").split("\n")[0] ?? "";
    t.equal(first, `#!${process.execPath}`, hook);
    accessSync(first.slice(2), constants.X_OK);
  }
});

t.test("V8 takes the code cache of the mode a hook runs in", async (t) => {
  const dir = tempDir(t);
  const env = { ...loadEnv("ganeti-3.0.2/instance-start-pre.env"), GQB_CODE_CACHE: "report" };
  const args = ["--qemu-version", "7.2.22", "--no-url-check", "--disk-dir", dir, "--cache-dir", dir];
  const runtime = readFileSync(join(ROOT, "test/fixtures/ganeti-3.0.2/extra/kvm-runtime.instance-start.json"), "utf8");
  const input = join(dir, "runtime.json");
  writeFileSync(input, runtime);

  const cases: [string, Promise<{ code: number | null; stderr: string }>, string][] = [
    ["environment only (stdin /dev/null)", runHook("instance-start", env, { args }), "env"],
    ["JSON on stdin", runHook("instance-start", env, { args, stdin: runtime }), "json"],
    ["JSON from --input", runHook("instance-start", env, { args: [...args, "--input", input] }), "json"],
    ["JSON from --input=", runHook("instance-start", env, { args: [...args, `--input=${input}`] }), "json"],
  ];
  for (const [what, run, mode] of cases) {
    const res = await run;
    t.equal(res.code, 0, `${what}: exit 0 (${res.stderr.trim()})`);
    t.match(res.stderr, new RegExp(`^instance-start: code cache ${mode} accepted$`, "m"), what);
  }
  for (const hook of ["disk-add", "disk-remove"]) {
    const res = await runHook(hook, { GQB_CODE_CACHE: "report" }, { args: ["--help"] });
    t.match(res.stderr, new RegExp(`^${hook}: code cache env accepted$`, "m"), hook);
  }
});
