// The fault matrix of cdrom-change: for every QMP command of a medium change on an IDE CD-ROM, each
// fault at that very step (an error reply, no reply, a dropped connection, QEMU killed), through a
// QMP proxy in front of a real QEMU. After each: the exit status and the output line agree; the
// drive holds the old medium with its tray closed and no node left over, or the message says
// exactly what the drive holds; and a following run converges. Written to
// docs/fault-matrix-cdrom-change.md by `npm run docs:tables` (never pasted there by hand).
import t, { type Test } from "tap";
import { change, inDrive, instanceWithCdrom } from "./helpers/cdrom.js";
import { writeDoc } from "./helpers/docs.js";
import { runHook } from "./helpers/hook.js";
import { type BlockInfo, namedNodes } from "./helpers/inspect.js";
import type { Instance } from "./helpers/instance.js";
import { FAULTS, type Fault, proxyFor, type Step, stepName } from "./helpers/qmp-proxy.js";

/** What the guest and QEMU have: the file in the drive, the tray, and nodes no device holds. */
async function state(inst: Instance) {
  const drive = await inDrive(inst, "cdrom1");
  const blocks = await inst.vm.qmp.execute<(BlockInfo & { tray_open?: boolean })[]>("query-block");
  const inserted = new Set(blocks.flatMap((b) => (b.inserted ? [b.inserted["node-name"]] : [])));
  const orphans = (await namedNodes(inst.vm.qmp))
    .map((n) => n["node-name"])
    .filter((n) => n.startsWith("cdrom") && !inserted.has(n) && !inserted.has(n.replace(/-file$/, "")));
  return {
    file: drive?.file,
    trayOpen: blocks.find((b) => b.qdev.endsWith("cdrom1"))?.tray_open === true,
    orphans,
  };
}

/** Runs cdrom-change through the proxy with one fault, checks it, and says what happened in a few words. */
async function oneCase(t: Test, step: Step | undefined, fault: Fault | undefined): Promise<string> {
  const { inst, one, two } = await instanceWithCdrom(t, "ide");
  const env = change(one, two);
  const { proxy, dir: proxyDir } = await proxyFor(t, inst);
  if (step && fault) proxy.inject(step, fault, () => inst.vm.kill());
  const args = [...inst.pathArgs, "--qmp-dir", proxyDir, "--qmp-timeout", "1"];
  const res = await runHook("cdrom-change", env, { args });
  proxy.stop();
  const want = { file: two, trayOpen: false, orphans: [] };

  t.not(res.code, 2, "never exit 2 once QMP was spoken");
  t.ok(res.json?.change, `one output line for Ganeti: ${res.stdout.trim()}`);
  const failed = res.json?.change?.[1] === "medium:failed";
  t.equal(res.code, failed ? 1 : 0, "the exit status says what the line says");
  if (fault === "QEMU killed") {
    t.ok(res.ms < 8000, `QEMU gone: the hook ends without hanging (${Math.round(res.ms)} ms)`);
    return failed ? `failed ${res.json?.error?.code}, QEMU gone` : "done, QEMU gone after";
  }
  const after = await state(inst);
  if (!failed) {
    // Done, with at most the old medium's node left, which a warning names.
    t.same({ ...after, orphans: [] }, want, "done: the new medium is in, the tray closed");
    for (const n of after.orphans.filter((x) => !x.endsWith("-file")))
      t.match(res.stderr, n, `the node left over is named: ${n}`);
    return after.orphans.length === 0 ? "done" : "done, old node left (warned)";
  }
  const message: string = res.json?.error?.message ?? "";
  t.equal(after.trayOpen, false, "the tray is closed again");
  const asBefore = after.file === one && after.orphans.length === 0;
  if (asBefore) t.pass(`failed ${res.json.error.code}: the old medium in, as before`);
  else {
    // What the drive holds now is what the message says.
    const said = /the drive holds (\S+)|the drive is empty|stays inserted/.exec(message);
    t.ok(said, `the message says what the drive holds: ${message}`);
    if (said?.[1]) t.equal((await inDrive(inst, "cdrom1"))?.node, said[1], "and QEMU agrees");
    if (said?.[0] === "the drive is empty") t.equal(after.file, undefined, "and QEMU agrees");
  }
  // A following run converges on what Ganeti asked for.
  const again = await runHook("cdrom-change", env, { args: inst.pathArgs });
  t.equal(again.code, 0, `the next run finishes the job: ${again.stderr}`);
  t.same({ ...(await state(inst)), orphans: [] }, want, "and the drive holds the new medium");
  return asBefore
    ? `failed ${res.json.error.code}, as before`
    : `failed ${res.json.error.code}, ${after.file === undefined ? "drive empty" : "other medium"} (said)`;
}

t.test("cdrom-change: every QMP command × every fault", async (t) => {
  let steps: Step[] = [];
  await t.test("an undisturbed run through the proxy", async (t) => {
    const { inst, one, two } = await instanceWithCdrom(t, "ide");
    const { proxy, dir } = await proxyFor(t, inst);
    const res = await runHook("cdrom-change", change(one, two), { args: [...inst.pathArgs, "--qmp-dir", dir] });
    t.equal(res.code, 0, res.stderr);
    steps = [...proxy.steps];
    t.ok(
      ["blockdev-open-tray", "blockdev-insert-medium", "blockdev-close-tray"].every((c) => steps.some((s) => s.command === c)),
      `the tray sequence: ${steps.map(stepName).join(", ")}`,
    );
  });
  const rows: string[] = [];
  for (const step of steps) {
    const cells: string[] = [];
    for (const fault of FAULTS) {
      await t.test(`${stepName(step)} × ${fault}`, async (t) => {
        cells.push(await oneCase(t, step, fault));
      });
    }
    rows.push(`| ${stepName(step)} | ${cells.join(" | ")} |`);
  }
  const table = [`| step | ${FAULTS.join(" | ")} |`, `|---|${FAULTS.map(() => "---").join("|")}|`, ...rows].join("\n");
  t.comment(`cdrom-change: step × fault → outcome\n${table}`);
  if (steps.length === 0 || rows.length !== steps.length) return;
  writeDoc(
    "fault-matrix-cdrom-change.md",
    `# The fault matrix of cdrom-change

Written by \`test/fault-matrix-medium.qemu.test.ts\`, run by \`npm run docs:tables\`: edit the test, not this file.

A medium change on an IDE CD-ROM (\`--qmp-timeout 1\`), with a QMP proxy between the hook and a
real QEMU that answers one step with an error, swallows it, cuts the connection, or has QEMU
killed. After each case the exit status and the output line agree; the tray is closed; the drive
holds the old medium with no node left over ("as before"), or what the message says it holds; and
a following run puts the new medium in.

${table}
`,
  );
});
