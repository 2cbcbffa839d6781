// The layering of src/, checked rather than promised: every import of every source file against
// the rules below. A rule is tried on a deliberate violation too, so a rule that matches nothing
// cannot pass unnoticed.
import { readdirSync, readFileSync } from "node:fs";
import { dirname, join, normalize, relative } from "node:path";
import t from "tap";
import { ROOT } from "./helpers/hook.js";

const SRC = join(ROOT, "src");

interface Import {
  /** The importing file, relative to src/ (e.g. "blockdev/disk.ts"). */
  from: string;
  /** A node: built-in, a package name, or a path relative to src/ (e.g. "errors.ts"). */
  target: string;
}

/** import/export ... from "x", import "x", import("x"), require("x") and process.getBuiltinModule("x"). */
const IMPORT_RE = /(?:\bfrom\s*|\bimport\s*\(\s*|\bimport\s+|\brequire\s*\(\s*|getBuiltinModule\s*\(\s*)["']([^"']+)["']/g;

function importsOf(file: string, text: string): Import[] {
  const out: Import[] = [];
  for (const m of text.matchAll(IMPORT_RE)) {
    const spec = m[1] as string;
    const target = spec.startsWith(".") ? normalize(join(dirname(file), spec)).replace(/\.js$/, ".ts") : spec;
    out.push({ from: file, target });
  }
  return out;
}

function sources(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const path = join(dir, e.name);
    if (e.isDirectory()) return e.name === "generated" ? [] : sources(path);
    return e.name.endsWith(".ts") ? [relative(SRC, path)] : [];
  });
}

const folder = (path: string) => (path.includes("/") ? (path.split("/")[0] as string) : path);

/** Each rule names what one folder may not import; undefined means the import is allowed. */
const RULES: { name: string; check: (i: Import) => string | undefined }[] = [
  {
    name: "src/blockdev is pure: no node: modules, and nothing outside blockdev/, generated/, errors",
    check: ({ from, target }) => {
      if (folder(from) !== "blockdev") return undefined;
      if (target.startsWith("node:")) return "a node: module";
      const ok = ["blockdev", "generated"].includes(folder(target)) || target === "errors.ts";
      return ok ? undefined : `${target}, outside blockdev/, generated/ and errors`;
    },
  },
  {
    name: "src/qmp knows nothing of Ganeti: no ganeti/ or hotplug/",
    check: ({ from, target }) =>
      folder(from) === "qmp" && ["ganeti", "hotplug", "start", "cli", "host"].includes(folder(target))
        ? `${target}, a layer above the QMP client`
        : undefined,
  },
  {
    name: "src/ganeti (Ganeti's formats) and src/host (host I/O) use no hot-plug, start, node-setup or hook code",
    check: ({ from, target }) =>
      ["ganeti", "host"].includes(folder(from)) && ["hotplug", "start", "node", "cli"].includes(folder(target))
        ? `${target}, a layer above`
        : undefined,
  },
  {
    name: "src/launcher builds QEMU's command line before QEMU runs: no QMP, hot-plug, start-hook or node-setup code, and of the I/O limits only the node's record",
    check: ({ from, target }) =>
      folder(from) === "launcher" &&
      (["qmp", "hotplug", "start", "node"].includes(folder(target)) || (folder(target) === "qos" && target !== "qos/record.ts"))
        ? `${target}, which the launcher has no use for`
        : undefined,
  },
  {
    name: "src/qos (per-disk I/O limits) sets limits on VMs: no start-hook, node-setup or command-line code",
    check: ({ from, target }) =>
      folder(from) === "qos" && ["start", "node"].includes(folder(target)) ? `${target}, a layer of its own` : undefined,
  },
  {
    name: "src/node (enable, disable, status, verify) acts on the node, not on VMs: no QMP, hot-plug or start-hook code",
    check: ({ from, target }) =>
      folder(from) === "node" && ["qmp", "hotplug", "start"].includes(folder(target))
        ? `${target}, which acts on VMs`
        : undefined,
  },
  {
    name: "only src/cli is a hook entry point: nothing imports it from below",
    check: ({ from, target }) =>
      folder(from) !== "cli" && folder(target) === "cli" ? `${target}, a hook entry point` : undefined,
  },
];

const violations = (imports: Import[]) =>
  RULES.flatMap((r) =>
    imports.flatMap((i) => {
      const why = r.check(i);
      return why ? [`${i.from} imports ${why} (${r.name})`] : [];
    }),
  );

t.test("every import in src/ keeps to the layers", async (t) => {
  const files = sources(SRC);
  t.ok(files.length > 30, `${files.length} source files read`);
  const imports = files.flatMap((f) => importsOf(f, readFileSync(join(SRC, f), "utf8")));
  t.ok(
    imports.some((i) => i.from.startsWith("blockdev/") && i.target === "errors.ts"),
    "imports are found and resolved",
  );
  t.same(violations(imports), [], "no violations");
});

t.test("each rule fails a deliberate violation", async (t) => {
  const bad: [string, string][] = [
    ["blockdev/evil.ts", 'import { readFileSync } from "node:fs";'],
    ["blockdev/evil.ts", 'const fs = process.getBuiltinModule("node:fs");'],
    ["blockdev/evil.ts", 'import { readHookEnv } from "../ganeti/env.js";'],
    ["qmp/evil.ts", 'import type { NodePaths } from "../ganeti/paths.js";'],
    ["qmp/evil.ts", 'import { hotAdd } from "../hotplug/add.js";'],
    ["ganeti/evil.ts", 'import { InstanceSession } from "../hotplug/session.js";'],
    ["launcher/evil.ts", 'import { QmpClient } from "../qmp/client.js";'],
    ["launcher/evil.ts", 'import { storageFor } from "../start/storage.js";'],
    ["launcher/evil.ts", 'import { applyThrottles } from "../qos/running.js";'],
    ["node/evil.ts", 'import { reconcile } from "../hotplug/reconcile.js";'],
    ["qos/evil.ts", 'import { enableNode } from "../node/setup.js";'],
    ["hotplug/evil.ts", 'import { say } from "../cli/program.js";'],
  ];
  for (const [file, line] of bad) t.equal(violations(importsOf(file, line)).length, 1, `${file}: ${line}`);
  t.same(violations(importsOf("blockdev/fine.ts", 'import { InputError } from "../errors.js";')), [], "and passes a good one");
});
