// One layout model: for each command line a real Ganeti 3.0.2 wrote (test/fixtures/ganeti-3.0.2/
// extra), instance-start's plan from the same hook environment and the launcher's rewrite of that
// command line give the same devices, slots and node options. test/ganeti/layouts.ganeti.ts checks
// the same for the nine layouts it has a real Ganeti start.
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import t from "tap";
import { parseOptString, readKvmArgv, splitOptions } from "../src/ganeti/kvm-argv.js";
import type { RuntimeDocument } from "../src/generated/common.js";
import { rewriteArgv } from "../src/launcher/rewrite.js";
import { loadEnv, ROOT, runHook } from "./helpers/hook.js";
import { isDefaultCdrom, launcherPlan, runtimePlan, startPlan } from "./helpers/layout-agreement.js";
import { tempDir } from "./helpers/tmp.js";

const files = (p: string) => (p.startsWith("/dev/") ? ("block" as const) : ("file" as const));
const RECORDED = [
  "instance-start",
  "instance-start-tcg-guest",
  "instance-start-native-nocache-cdromboot",
  "instance-start-guest-kernel-nestedkvm",
];
const argvOf = (name: string) =>
  readFileSync(join(ROOT, `test/fixtures/ganeti-3.0.2/extra/kvm-cmdline.${name}.txt`), "utf8")
    .trim()
    .split("\n")
    .slice(1);

for (const name of RECORDED) {
  t.test(`${name}: instance-start's plan is the launcher's rewrite of Ganeti's command line`, async (t) => {
    const launcher = launcherPlan(argvOf(name), files);
    t.ok(Object.values(launcher).filter((d) => d["node"]).length >= 3, "two disks and a CD-ROM at least");
    t.same(launcher, await startPlan(loadEnv(`ganeti-3.0.2/${name}-post.env`)));
  });
}

t.test("booting from a CD-ROM puts it on IDE, whatever cdrom_disk_type says, as Ganeti does", async (t) => {
  const env = loadEnv("ganeti-3.0.2/instance-start-native-nocache-cdromboot-post.env");
  t.equal(env["GANETI_POST_INSTANCE_HV_cdrom_disk_type"], "", "cdrom_disk_type follows disk_type (paravirtual)");
  t.match((await startPlan(env))["ide.0/0"], { driver: "ide-cd", bootindex: "1", node: { "read-only": "true" } });
});

t.test("instance-start plans the same from Ganeti's runtime document as from its environment", async (t) => {
  const doc = JSON.parse(
    readFileSync(join(ROOT, "test/fixtures/ganeti-3.0.2/extra/kvm-runtime.instance-start.json"), "utf8"),
  ) as RuntimeDocument;
  t.same(await runtimePlan(doc, "inst1.ganeti.test"), await startPlan(loadEnv("ganeti-3.0.2/instance-start-post.env")));
});

t.test("QEMU's default CD-ROM stays where Ganeti's command line had it, and is no part of either plan", async (t) => {
  const rewritten = rewriteArgv(readKvmArgv(argvOf("instance-start-native-nocache-cdromboot")), { pathKind: files });
  const defaults = splitOptions(rewritten)
    .filter((o) => o.name === "device")
    .map((o) => Object.fromEntries(parseOptString(o.value ?? "", "driver")))
    .filter(isDefaultCdrom);
  t.same(defaults, [{ driver: "ide-cd", bus: "ide.1", unit: "0" }]);
});

t.test("a floppy boot on pc and on q35: the same controller, drive and boot flag on both roads", async (t) => {
  const floppy = join(tempDir(t), "floppy.img");
  writeFileSync(floppy, Buffer.alloc(1474560));
  /** The floppy's part of a command line: controller and drive devices, and -global settings. */
  const floppyPart = (argv: readonly string[]) => {
    const opts = splitOptions(argv);
    const devices = opts
      .filter((o) => o.name === "device")
      .map((o) => (o.value?.startsWith("{") ? JSON.parse(o.value) : Object.fromEntries(parseOptString(o.value ?? "", "driver"))))
      .filter((d) => ["isa-fdc", "floppy"].includes(String(d.driver)))
      .map((d) => Object.fromEntries(Object.entries(d).map(([k, v]) => [k, String(v)])));
    return { devices, globals: opts.filter((o) => o.name === "global").map((o) => o.value) };
  };
  for (const machine of ["pc-i440fx-7.2", "q35"]) {
    // Ganeti 3.0's command line for it: its machine, the floppy drive, and -boot a.
    const argv = argvOf("instance-start").flatMap((w, i, all) =>
      all[i - 1] === "-machine" ? [machine] : w === "-boot" ? [] : all[i - 1] === "-boot" ? [] : [w],
    );
    argv.push("-drive", `file=${floppy},format=raw,media=disk,if=floppy,cache=writethrough`, "-boot", "a");
    const launcher = floppyPart(rewriteArgv(readKvmArgv(argv), { pathKind: files }));
    const env = {
      ...loadEnv("ganeti-3.0.2/instance-start-post.env"),
      GANETI_POST_INSTANCE_HV_machine_version: machine,
      GANETI_POST_INSTANCE_HV_floppy_image_path: floppy,
      GANETI_POST_INSTANCE_HV_boot_order: "floppy",
    };
    const res = await runHook("instance-start", env, { args: ["--qemu-version", "7.2.0", "--no-url-check"] });
    t.equal(res.code, 0, res.stderr);
    const start = floppyPart(res.json.argv as string[]);
    t.same(launcher, start, `${machine}: ${JSON.stringify(start)}`);
    const q35 = machine === "q35";
    t.equal(
      start.devices.some((d) => d["driver"] === "isa-fdc" && d["bootindexA"] === "1"),
      q35,
      "q35: its added controller boots",
    );
    t.same(start.globals, q35 ? [] : ["isa-fdc.bootindexA=1"], "pc: the board's controller boots, by -global");
  }
});
