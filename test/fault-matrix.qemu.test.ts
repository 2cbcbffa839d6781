// The fault matrix: for every QMP command disk-add and disk-remove send, each fault at that very
// step (an error reply, no reply, a dropped connection, QEMU killed), through a QMP proxy in front
// of a real QEMU. After each: the exit status and the output line; the VM's state exactly as
// before, or exactly what the output says is left; and a following run that converges. The matrix
// is printed as a table (test output and README "Failure behaviour").
import { readFileSync } from "node:fs";
import t, { type Test } from "tap";
import { diskDeviceId } from "../src/blockdev/ids.js";
import { writeDoc } from "./helpers/docs.js";
import { loadEnv, runHook } from "./helpers/hook.js";
import { type Instance, startInstance } from "./helpers/instance.js";
import { resetCompletingUnplug } from "./helpers/qemu.js";
import { FAULTS, type Fault, proxyFor, type Step, stepName } from "./helpers/qmp-proxy.js";

const ADD_ENV = loadEnv("ganeti-3.0.2/instance-modify-disk-add-hotplug-post.env");
const REMOVE_ENV = loadEnv("ganeti-3.0.2/instance-modify-disk-remove-hotplug-post.env");
const UUID = ADD_ENV["GANETI_POST_INSTANCE_DISK2_UUID"] as string;
const ID = diskDeviceId(UUID);
type Hook = "disk-add" | "disk-remove";

/** An instance ready for the hook: for disk-remove, the disk is attached first (without the proxy). */
async function prepared(t: Test, hook: Hook): Promise<{ inst: Instance; env: Record<string, string> }> {
  const inst = await startInstance(t, { disk_type: "scsi-hd", scsi_controller_type: "virtio-scsi-pci" });
  inst.addImage(2, 1 << 20);
  const addEnv = inst.env(ADD_ENV);
  if (hook === "disk-remove") {
    const add = await runHook("disk-add", addEnv, { args: inst.pathArgs });
    if (add.code !== 0) throw new Error(add.stderr);
  }
  return { inst, env: hook === "disk-add" ? addEnv : REMOVE_ENV };
}

async function state(inst: Instance) {
  const snap = await inst.snapshot();
  return {
    node: snap.nodes.includes(ID),
    device: snap.ids.includes(ID),
    recorded: inst.runtime()[3].some((e) => e[0].uuid === UUID),
  };
}

/** Runs the hook through the proxy with one fault, checks it, and says what happened in a few words. */
async function oneCase(t: Test, hook: Hook, step: Step | undefined, fault: Fault | undefined): Promise<string> {
  const { inst, env } = await prepared(t, hook);
  const { proxy, dir: proxyDir } = await proxyFor(t, inst);
  if (step && fault) proxy.inject(step, fault, () => inst.vm.kill());
  const before = await state(inst);
  const runtimeBefore = readFileSync(inst.runtimePath, "utf8");
  const args = [...inst.pathArgs, "--qmp-dir", proxyDir, "--qmp-timeout", "1", "--unplug-timeout", "1"];
  const res = await runHook(hook, env, { args });
  proxy.stop();
  const want =
    hook === "disk-add" ? { node: true, device: true, recorded: true } : { node: false, device: false, recorded: false };

  t.not(res.code, 2, "never exit 2 once QMP was spoken");
  t.ok(res.json?.change, `one output line for Ganeti: ${res.stdout.trim()}`);
  const failed = res.json?.change?.[1] === "hotplug:failed";
  t.equal(res.code, failed ? 1 : 0, "the exit status says what the line says");
  if (fault === "QEMU killed") {
    t.ok(res.ms < 8000, `QEMU gone: the hook ends without hanging (${Math.round(res.ms)} ms)`);
    // The runtime file keeps the disk, or (disk-remove, after QEMU's DEVICE_DELETED) lost exactly it.
    const recorded = inst.runtime()[3].some((e) => e[0].uuid === UUID);
    if (recorded === before.recorded)
      t.equal(readFileSync(inst.runtimePath, "utf8"), runtimeBefore, "the runtime file is as it was");
    else t.ok(hook === "disk-remove" && !recorded, "the runtime file lost the disk QEMU had confirmed gone");
    return failed ? `failed ${res.json?.error?.code}, QEMU gone` : "done, QEMU gone after";
  }
  const after = await state(inst);
  if (!failed) {
    t.same(after, want, "done: the VM and the runtime file say so");
    return "done";
  }
  const message: string = res.json?.error?.message ?? "";
  const left = (Object.keys(after) as (keyof typeof after)[]).filter((k) => after[k] !== before[k]);
  if (left.length === 0) {
    t.pass(`failed ${res.json.error.code}: exactly as before`);
  } else {
    // Whatever differs from before must be what the message says may be left.
    t.match(
      message,
      new RegExp(`${ID}.*(stay|left|may be left)|(stay|left).*${ID}`),
      `what is left is named: ${left.join(", ")}`,
    );
  }
  // A following run converges on what Ganeti asked for.
  const again = await runHook(hook, env, { args: inst.pathArgs });
  t.equal(again.code, 0, `the next run finishes the job: ${again.stderr}`);
  t.same(await state(inst), want, "and the VM and the runtime file agree");
  const present = (["node", "device"] as const).filter((k) => after[k]);
  const leftover = `left: ${present.join(" + ") || "nothing"}${after.recorded ? ", recorded" : ""}`;
  return left.length === 0 ? `failed ${res.json.error.code}, as before` : `failed ${res.json.error.code}, ${leftover}`;
}

/** Each hook's table, in hook order; written to docs/fault-matrix.md once both are complete. */
const tables = new Map<Hook, string>();
const HOOKS = ["disk-add", "disk-remove"] as const;
t.teardown(() => {
  if (tables.size !== HOOKS.length) return; // a run of part of the matrix writes nothing
  const intro = `# The fault matrix

Written by \`test/fault-matrix.qemu.test.ts\`, run by \`npm run docs:tables\`: edit the test, not this file.

A QMP proxy between the hook and a real QEMU answers one step with an error, swallows it, cuts the
connection, or has QEMU killed, for every QMP command of each hook (SCSI disk, \`--qmp-timeout 1\`).
After each case the exit status and the output line agree, the VM is exactly as before or holds
exactly what the message says is left, and a following run converges. The first steps are the
reconcile every run starts with: their failures are reported as warnings and the hook's own work
goes on. "as before": the VM as it was; "left": what the message says is left. A dropped
connection is not the end: the hook connects again to undo what it did. cdrom-change's matrix:
[fault-matrix-cdrom-change.md](fault-matrix-cdrom-change.md).
`;
  writeDoc("fault-matrix.md", [intro, ...HOOKS.map((h) => tables.get(h))].join("\n"));
});

for (const hook of HOOKS) {
  t.test(`${hook}: every QMP command × every fault`, async (t) => {
    // The steps of an undisturbed run, as the proxy sees them.
    let steps: Step[] = [];
    await t.test("an undisturbed run through the proxy", async (t) => {
      const { inst, env } = await prepared(t, hook);
      const { proxy, dir } = await proxyFor(t, inst);
      const res = await runHook(hook, env, { args: [...inst.pathArgs, "--qmp-dir", dir] });
      t.equal(res.code, 0, res.stderr);
      steps = [...proxy.steps];
      t.ok(steps.length >= 5, `${steps.length} QMP commands: ${steps.map(stepName).join(", ")}`);
      t.equal(proxy.connections, 1, "one QMP connection for the whole run, reconcile-first included");
      for (const query of ["qom-list", "query-named-block-nodes", "query-pci"]) {
        t.ok(steps.filter((s) => s.command === query).length <= 1, `${query} asked at most once`);
      }
      t.equal(
        steps.filter((s) => s.command === "query-block").length,
        hook === "disk-add" ? 2 : 1,
        "query-block: one look, and the check after device_add",
      );
    });
    const rows: string[] = [];
    for (const step of steps) {
      const cells: string[] = [];
      for (const fault of FAULTS) {
        await t.test(`${stepName(step)} × ${fault}`, async (t) => {
          cells.push(await oneCase(t, hook, step, fault));
        });
      }
      rows.push(`| ${stepName(step)} | ${cells.join(" | ")} |`);
    }
    const table = [`| step | ${FAULTS.join(" | ")} |`, `|---|${FAULTS.map(() => "---").join("|")}|`, ...rows].join("\n");
    t.comment(`${hook}: step × fault → outcome\n${table}`);
    if (rows.length === steps.length && steps.length > 0) tables.set(hook, `${hook}:\n\n${table}\n`);
  });
}

t.test("a rollback the guest does not let finish: what is left is said, recorded, and finished later", async (t) => {
  const inst = await startInstance(t, { disk_type: "paravirtual" }); // virtio-blk, and no guest to release it
  inst.addImage(2, 1 << 20);
  const { proxy, dir } = await proxyFor(t, inst);
  proxy.inject({ command: "query-block", nth: 2 }, "error", async () => {});
  const env = inst.env(ADD_ENV);
  const res = await runHook("disk-add", env, { args: [...inst.pathArgs, "--qmp-dir", dir, "--unplug-timeout", "0.5"] });
  t.equal(res.code, 1, "fails");
  t.equal(res.json.error.code, "VERIFY_FAILED", "with the first error");
  t.match(res.json.error.message, `device ${ID} and block node ${ID} stay attached`, "saying exactly what is left");
  t.same(await state(inst), { node: true, device: true, recorded: true }, "which the runtime file records, as QEMU has it");
  const again = await runHook("disk-add", env, { args: inst.pathArgs });
  t.equal(again.code, 0, `the next run converges: ${again.stderr}`);
  await resetCompletingUnplug(inst.vm.qmp, ID); // the pending unplug completes, as a late guest would
  const rm = await runHook("disk-remove", REMOVE_ENV, { args: inst.pathArgs });
  t.equal(rm.code, 0, rm.stderr);
  t.same(await state(inst), { node: false, device: false, recorded: false }, "and once the guest let go, nothing is left");
});

t.test("the unplug race: Ganeti's own unplug finishes between our look and our device_del", async (t) => {
  const { inst } = await prepared(t, "disk-remove");
  const { proxy, dir } = await proxyFor(t, inst);
  proxy.before({ command: "device_del", nth: 1 }, async () => {
    const gone = inst.vm.qmp.listen({ names: ["DEVICE_DELETED"], data: { device: ID } });
    await inst.vm.qmp.execute("device_del", { id: ID });
    await gone.next(5000);
    gone.close();
  });
  const res = await runHook("disk-remove", REMOVE_ENV, { args: [...inst.pathArgs, "--qmp-dir", dir, "--unplug-timeout", "10"] });
  t.equal(res.code, 0, `done: ${res.stderr}`);
  t.ok(res.ms < 5000, `at once, not after the 10 s unplug timeout (${Math.round(res.ms)} ms)`);
  t.same(await state(inst), { node: false, device: false, recorded: false }, "device, node and runtime entry gone");
});

t.test("an error that is no QMP error (a reply QEMU never gives) after device_add: rolled back all the same", async (t) => {
  const { inst, env } = await prepared(t, "disk-add");
  const { proxy, dir } = await proxyFor(t, inst);
  const before = await state(inst);
  // query-block #2 is the check after device_add (#1 is the look reconcile-first takes): node and device are in QEMU by then.
  proxy.inject({ command: "query-block", nth: 2 }, "unexpected reply", async () => {});
  const res = await runHook("disk-add", env, { args: [...inst.pathArgs, "--qmp-dir", dir, "--qmp-timeout", "1"] });
  t.equal(res.code, 1, `fails: ${res.stderr}`);
  t.same(res.json?.change?.[1], "hotplug:failed", "and says so to Ganeti");
  t.equal(res.json?.error?.code, "VERIFY_FAILED", "with the step that failed");
  t.match(res.json?.error?.message, "the VM is as it was", "after the rollback");
  t.same(await state(inst), before, "device and node removed again, nothing recorded");
});
