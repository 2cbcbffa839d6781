// The bad-input corpus (test/fixtures/bad-input, one file per case): each case must exit 2 with one
// line naming the variable or JSON path and what is allowed, no stack trace, nothing on stdout,
// and nothing sent to the running QEMU (its block nodes and devices stay as they were).
import { execFileSync } from "node:child_process";
import { readdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import t from "tap";
import { type EnvVars, loadEnv, ROOT, runHook } from "./helpers/hook.js";
import { startInstance } from "./helpers/instance.js";

interface Case {
  hook: "instance-start" | "disk-add" | "disk-remove";
  exit: number;
  error: string;
  env?: Record<string, string | null>;
  stdin?: string;
  json?: unknown;
  args?: string[];
  runtime?: string | { up_hvp?: Record<string, unknown>; raw?: unknown };
}

const dir = join(ROOT, "test/fixtures/bad-input");
const files = readdirSync(dir)
  .filter((f) => f.endsWith(".json"))
  .sort();
const QEMU_PATH = execFileSync("sh", ["-c", "command -v qemu-system-x86_64"], { encoding: "utf8" }).trim();
const BASE: Record<Case["hook"], EnvVars> = {
  "instance-start": { ...loadEnv("ganeti-3.0.2/instance-start-pre.env"), GANETI_INSTANCE_HV_kvm_path: QEMU_PATH },
  "disk-add": loadEnv("ganeti-3.0.2/instance-modify-disk-add-hotplug-post.env"),
  "disk-remove": loadEnv("ganeti-3.0.2/instance-modify-disk-remove-hotplug-post.env"),
};

t.ok(files.length >= 60, `${files.length} bad-input cases`);

t.test("every bad input is refused with one clear line and changes nothing", async (t) => {
  const inst = await startInstance(t, { disk_type: "paravirtual" });
  inst.addImage(2);
  const runtimeText = readFileSync(inst.runtimePath, "utf8");
  for (const file of files) {
    const c = JSON.parse(readFileSync(join(dir, file), "utf8")) as Case;
    const env: EnvVars = { ...BASE[c.hook] };
    for (const [k, v] of Object.entries(c.env ?? {})) {
      if (v === null) delete env[k];
      else env[k] = v;
    }
    if (typeof c.runtime === "string") writeFileSync(inst.runtimePath, c.runtime);
    else if (c.runtime?.raw !== undefined) writeFileSync(inst.runtimePath, JSON.stringify(c.runtime.raw));
    else if (c.runtime?.up_hvp) {
      const doc = JSON.parse(runtimeText);
      Object.assign(doc[2], c.runtime.up_hvp);
      writeFileSync(inst.runtimePath, JSON.stringify(doc));
    }
    const stdin = c.stdin ?? (c.json === undefined ? undefined : JSON.stringify(c.json));
    const res = await runHook(c.hook, env, {
      args: [...inst.pathArgs, ...(c.args ?? [])],
      ...(stdin === undefined ? {} : { stdin }),
    });
    writeFileSync(inst.runtimePath, runtimeText);
    const lines = res.stderr.split("\n").filter((l) => l !== "");
    t.equal(res.code, c.exit, `${file}: exit ${c.exit} (${res.stderr.trim()})`);
    t.equal(lines.length, 1, `${file}: one line on stderr`);
    t.match(lines[0] ?? "", new RegExp(c.error), `${file}: says what is wrong`);
    t.match(lines[0] ?? "", /^[a-z-]+: error \[[A-Z_]+\]: /, `${file}: hook name and stable error code`);
    t.notMatch(res.stderr, /\n\s+at |TypeError|ReferenceError/, `${file}: no stack trace`);
    // biome-ignore lint/suspicious/noControlCharactersInRegex: finding control characters is the point
    t.notMatch(res.stderr, /[\u0000-\u0009\u000b-\u001f]/, `${file}: no raw control characters`);
    t.equal(res.stdout, "", `${file}: nothing on stdout`);
  }
  t.same(await inst.snapshot(), inst.baseline, "the VM's block nodes and devices are exactly as at start");
  t.equal(readFileSync(inst.runtimePath, "utf8"), runtimeText, "runtime file untouched");
});
