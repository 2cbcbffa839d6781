// One layout model: for each command line a real Ganeti 3.0.2 wrote (test/fixtures/ganeti-3.0.2/
// extra), instance-start's plan from the same hook environment and the launcher's rewrite of that
// command line give the same devices, slots and node options. test/ganeti/layouts.ganeti.ts checks
// the same for the nine layouts it has a real Ganeti start.
import { readFileSync } from "node:fs";
import { join } from "node:path";
import t from "tap";
import { parseOptString, splitOptions } from "../src/ganeti/kvm-argv.js";
import type { RuntimeDocument } from "../src/generated/common.js";
import { rewriteArgv } from "../src/launcher/rewrite.js";
import { loadEnv, ROOT } from "./helpers/hook.js";
import { isDefaultCdrom, launcherPlan, runtimePlan, startPlan } from "./helpers/layout-agreement.js";

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
  const rewritten = rewriteArgv(argvOf("instance-start-native-nocache-cdromboot"), { pathKind: files });
  const defaults = splitOptions(rewritten)
    .filter((o) => o.name === "device")
    .map((o) => Object.fromEntries(parseOptString(o.value ?? "", "driver")))
    .filter(isDefaultCdrom);
  t.same(defaults, [{ driver: "ide-cd", bus: "ide.1", unit: "0" }]);
});
