// What `npm run build` makes of the hooks (scripts/gen-hooks.mjs, scripts/code-cache.mjs): the
// interpreter they name, and V8 code caches that V8 actually takes in each input mode. A rejected
// or missing cache still runs, only ~8 ms slower at every start: nothing else would notice.
import { spawnSync } from "node:child_process";
import {
  accessSync,
  constants,
  copyFileSync,
  existsSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  symlinkSync,
  writeFileSync,
} from "node:fs";
import { join } from "node:path";
import t from "tap";
import { DEFAULT_PATHS } from "../src/ganeti/paths.js";
import { CONFIG_PATH_VARIABLE, DEFAULT_CONFIG_PATH } from "../src/host/config.js";
import { HOOK_LINKS, LAYOUT, PROGRAMS } from "../src/host/plugin-files.js";
import { CACHE_DIR_VARIABLE, PASS_THROUGH_FILE } from "../src/launcher/pass-through.js";
import { qosRecordPath } from "../src/qos/record.js";
import { loadEnv, ROOT, runHook } from "./helpers/hook.js";
import { tempDir } from "./helpers/tmp.js";

const HOOKS = PROGRAMS.filter((p) => p.kind === "hook").map((p) => p.name);

/** The build named on a bundle's last line (scripts/bundle.mjs). */
const build = (hook: string) =>
  /\n\/\/ build ([0-9a-f]{16})\n$/.exec(readFileSync(join(ROOT, "dist", `${hook}.cjs`), "utf8"))?.[1] ?? "none";

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
    t.match(
      res.stderr,
      new RegExp(
        `^instance-start: code cache ${mode} accepted \\(.*/instance-start\\.${build("instance-start")}\\.${mode}\\.cache\\)$`,
        "m",
      ),
      what,
    );
  }
});

t.test("every program of the table has all its parts, and the build made no program the table lacks", async (t) => {
  const names: string[] = PROGRAMS.map((p) => p.name);
  t.equal(new Set(names).size, names.length, "each name once");
  for (const p of PROGRAMS) {
    t.ok(existsSync(join(ROOT, "src/cli", `${p.name}.ts`)), `${p.name}: its source, src/cli/${p.name}.ts`);
    t.ok(existsSync(join(ROOT, LAYOUT.bundles, `${p.name}.cjs`)), `${p.name}: its bundle`);
    const exe = join(ROOT, LAYOUT[p.kind], p.name);
    accessSync(exe, constants.X_OK);
    t.pass(`${p.name}: its executable, ${LAYOUT[p.kind]}/${p.name}`);
    const caches = readdirSync(join(ROOT, LAYOUT.bundles)).filter((f) => f.startsWith(`${p.name}.${build(p.name)}.`));
    t.ok(
      caches.some((f) => f.endsWith(".env.cache")),
      `${p.name}: a code cache of its ${p.cache} run`,
    );
    if (p.kind === "hook") {
      const link = HOOK_LINKS.find((l) => l.hook === p.name)?.link ?? "";
      t.match(link, /^[a-z-]+-(pre|post)\.d\/[a-zA-Z0-9_-]+$/, `${p.name}: a link Ganeti runs, ${link}`);
    }
  }
  const links = HOOK_LINKS.map((l) => l.link);
  t.equal(new Set(links).size, links.length, "no two hooks share a link");
  // What the build wrote: every executable and bundle is one of the table's programs.
  for (const dir of new Set([LAYOUT.hook, LAYOUT.command])) {
    for (const f of readdirSync(join(ROOT, dir)).filter((f) => f !== "package.json" && !f.endsWith("-node.cjs"))) {
      t.ok(names.includes(f), `${dir}/${f} is a program of the table`);
    }
  }
});

t.test("every program runs from its executable and V8 takes its code cache", async (t) => {
  for (const p of PROGRAMS.filter((p) => p.kind !== "launcher")) {
    const dir = LAYOUT[p.kind];
    const res = spawnSync(join(ROOT, dir, p.name), ["--help"], {
      env: { PATH: "/usr/sbin:/usr/bin:/sbin:/bin", GQB_CODE_CACHE: "report" },
      stdio: ["ignore", "pipe", "pipe"], // stdin /dev/null, as Ganeti runs hooks: the env mode
      encoding: "utf8",
    });
    t.equal(res.status, 0, `${dir}/${p.name} --help runs: ${res.error?.message ?? ""}`);
    t.match(
      res.stderr,
      new RegExp(`^${p.name}: code cache env accepted \\(.*/${p.name}\\.${build(p.name)}\\.env\\.cache\\)$`, "m"),
      p.name,
    );
  }
});

t.test("a new build of a bundle never runs with an older build's cache", async (t) => {
  // A copy of the plugin where instance-start was rebuilt to a bundle of the very same length (the
  // case V8 itself cannot tell apart) and the old caches were left behind, as a partial copy would.
  const plugin = tempDir(t);
  mkdirSync(join(plugin, "hooks"));
  mkdirSync(join(plugin, "dist"));
  for (const f of ["instance-start", "package.json"]) copyFileSync(join(ROOT, "hooks", f), join(plugin, "hooks", f));
  for (const f of readdirSync(join(ROOT, "dist")).filter((f) => f.startsWith("instance-start.") || f.startsWith("validators-")))
    copyFileSync(join(ROOT, "dist", f), join(plugin, "dist", f));
  const old = readFileSync(join(plugin, "dist/instance-start.cjs"), "utf8");
  const rebuilt = old.replace("Usage: $0", "Usage: %0").replace(/ build [0-9a-f]{16}\n$/, " build 0123456789abcdef\n");
  t.equal(rebuilt.length, old.length);
  t.not(rebuilt, old);
  writeFileSync(join(plugin, "dist/instance-start.cjs"), rebuilt);

  const dir = tempDir(t);
  const env = { ...loadEnv("ganeti-3.0.2/instance-start-pre.env"), GQB_CODE_CACHE: "report" };
  const res = await runHook("instance-start", env, {
    args: ["--qemu-version", "7.2.22", "--disk-dir", dir, "--cache-dir", dir],
    root: plugin,
  });
  t.equal(res.code, 0, res.stderr);
  t.match(res.stderr, /^instance-start: code cache env missing \(.*instance-start\.0123456789abcdef\.env\.cache\)$/m);
  t.ok(Array.isArray(res.json?.argv), "and the hook still works, compiling its bundle");
});

t.test("every hook installed through a symlink in a hook directory runs from there, with cwd /", async (t) => {
  // As the README installs them: /etc/ganeti/hooks/<hpath>-<phase>.d/<name> -> <plugin>/hooks/<hook>.
  const hookDir = join(tempDir(t), "instance-modify-post.d");
  mkdirSync(hookDir);
  const dir = tempDir(t);
  const start = { ...loadEnv("ganeti-3.0.2/instance-start-pre.env"), GQB_CODE_CACHE: "report" };
  const modify = { ...loadEnv("ganeti-3.0.2/instance-modify-disk-add-hotplug-post.env"), GQB_CODE_CACHE: "report" };
  for (const hook of HOOKS) {
    const link = join(hookDir, `50-ganeti-qemu-blockdev-${hook}`);
    symlinkSync(join(ROOT, "hooks", hook), link);
    const paths = ["--disk-dir", dir, "--qmp-dir", dir, "--runtime-dir", dir, "--cache-dir", dir];
    // cluster-verify in verify's pre phase, which it has nothing to do in (its post phase needs Ganeti's ssconf).
    const [args, env] =
      hook === "instance-start"
        ? [[...paths, "--qemu-version", "7.2.22"], start]
        : hook === "disk-qos"
          ? [paths, { ...start, GANETI_INSTANCE_TAGS: "disk-qos:disk0:iops:100" }]
          : hook === "cluster-verify"
            ? [[], { GANETI_HOOKS_PHASE: "pre", GQB_CODE_CACHE: "report" }]
            : [paths, modify];
    const res = spawnSync(link, args, {
      cwd: "/",
      env: { PATH: "/usr/sbin:/usr/bin:/sbin:/bin", ...env },
      stdio: ["ignore", "pipe", "pipe"],
      encoding: "utf8",
    });
    t.equal(res.status, 0, `${hook} through ${link}: ${res.stderr}`);
    t.match(
      res.stderr,
      new RegExp(`^${hook}: code cache env accepted \\(${ROOT}/hooks/\\.\\./dist/`, "m"),
      `${hook} found its bundle and cache`,
    );
    if (hook === "instance-start") t.ok(Array.isArray(JSON.parse(res.stdout).argv), "and printed its argv");
    else if (hook === "cluster-verify") t.equal(res.stdout, "", "and did its work (nothing in the pre phase)");
    else if (hook === "disk-qos")
      t.ok(existsSync(qosRecordPath(dir, "inst1.ganeti.test")), "and did its work (the tags recorded)");
    else t.match(res.stderr, /does not run on this node/, "and did its work (nothing to do on this node)");
  }
});

t.test("the launcher's sh front reads the files the Node part writes", async (t) => {
  // The front as generated: scripts/gen-hooks.mjs fills in these names from the TypeScript.
  const front = readFileSync(join(ROOT, "hooks/qemu-launcher"), "utf8");
  t.match(
    front,
    `\${${CACHE_DIR_VARIABLE}:-${DEFAULT_PATHS.cacheDir}}/${PASS_THROUGH_FILE}`,
    "the sh front reads the pass-through record",
  );
  t.match(front, `\${${CONFIG_PATH_VARIABLE}:-${DEFAULT_CONFIG_PATH}}`, "and the same config file");
});
