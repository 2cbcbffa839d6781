// Per-disk I/O limits from the instance's disk-qos: tags, on real QEMU: recorded by the disk-qos
// hook as Ganeti runs it before a start, set by the launcher before the guest's first I/O (the VM
// is still paused when the launcher returns), kept on a live-migration target, changed live by
// `ganeti-qemu-blockdev qos`, and refused in one line when a tag is malformed.
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import t, { type Test } from "tap";
import { QmpClient } from "../src/qmp/client.js";
import { qosRecordPath } from "../src/qos/record.js";
import { queryBlock } from "./helpers/inspect.js";
import { daemon, images, LAUNCHER, launcherEnv, linkDisks, node, onNode, recordedArgv, run } from "./helpers/launcher.js";
import { freePort } from "./helpers/qemu.js";
import { DISK0, DISK1, migrateTo, PLUGIN_COMMAND, recordTags, throttleOf } from "./helpers/qos.js";
import { tempDir } from "./helpers/tmp.js";

const MIB = 1 << 20;
const NONE = { bps: 0, bps_max: undefined, bps_wr: 0, iops: 0, iops_wr: 0, group: undefined };

function setup(t: Test) {
  const dir = tempDir(t);
  const files = images(dir, 2);
  const n = node(join(dir, "node1"));
  linkDisks(n, files.disks);
  return { dir, files, n, env: launcherEnv(dir), argv: recordedArgv("instance-start", n, files) };
}

t.test("per-disk limits are set at start, before the guest runs, and the node graph stays Ganeti's", async (t) => {
  const { dir, n, env, argv } = setup(t);
  const hook = await recordTags(n, "web disk-qos:disk0:iops:500 disk-qos:disk1:bps:2M disk-qos:disk1:bps-max:4M");
  t.equal(hook.code, 0, hook.stderr);
  t.ok(existsSync(qosRecordPath(join(n.dir, "ctrl"), "inst1.ganeti.test")), "the hook recorded the tags on the node");
  // QEMU's own trace of the QMP commands it runs: what the launcher costs QEMU, counted.
  const trace = join(dir, "qmp-trace.log");
  const r = await run(LAUNCHER, [...argv, "-trace", `enable=monitor_qmp_cmd_in_band,file=${trace}`], env);
  t.equal(r.code, 0, `started through the launcher: ${r.stderr}`);
  t.equal(r.stdout.length, 0, "QEMU started by the launcher itself: no words for the shell front");
  const commands = readFileSync(trace, "utf8")
    .split("\n")
    .filter((l) => l.includes("monitor_qmp_cmd_in_band"));
  t.equal(
    commands.length,
    1 + 2,
    `the launcher sent QEMU one command per limited disk, after qmp_capabilities: ${commands.join(" / ")}`,
  );
  const vm = await daemon(t, n);
  t.equal((await vm.qmp.execute<{ status: string }>("query-status")).status, "prelaunch", "the VM is still paused (-S)");
  t.same(await throttleOf(vm.qmp, DISK0), { ...NONE, iops: 500, group: DISK0 }, "disk 0: 500 iops");
  t.same(
    await throttleOf(vm.qmp, DISK1),
    { ...NONE, bps: 2 * MIB, bps_max: 4 * MIB, group: DISK1 },
    "disk 1: 2 MiB/s, bursts of 4",
  );
  const nodes = (await queryBlock(vm.qmp)).flatMap((b) => (b.inserted ? [b.inserted["node-name"]] : []));
  t.ok(
    nodes.includes(DISK0) && nodes.includes(DISK1),
    `the disks' nodes keep Ganeti's names, no filter above them: ${nodes.join(" ")}`,
  );
});

t.test("disk-qos:all puts every disk in one group", async (t) => {
  const { n, env, argv } = setup(t);
  t.equal((await recordTags(n, "disk-qos:all:bps:1M disk-qos:all:iops-wr:40")).code, 0);
  t.equal((await run(LAUNCHER, argv, env)).code, 0);
  const vm = await daemon(t, n);
  for (const id of [DISK0, DISK1]) {
    t.same(await throttleOf(vm.qmp, id), { ...NONE, bps: MIB, iops_wr: 40, group: "disk-qos-all" }, `${id} in the shared group`);
  }
});

t.test("without disk-qos: tags the launcher execs QEMU as before, and the hook removes an old record", async (t) => {
  const { n, env, argv } = setup(t);
  t.equal((await recordTags(n, "disk-qos:disk0:iops:500")).code, 0);
  t.equal((await recordTags(n, "web other:tag")).code, 0);
  t.notOk(existsSync(qosRecordPath(join(n.dir, "ctrl"), "inst1.ganeti.test")), "the record is gone with the tags");
  const r = await run(LAUNCHER, argv, env);
  t.equal(r.code, 0, r.stderr.toString());
  const vm = await daemon(t, n);
  t.same(await throttleOf(vm.qmp, DISK0), NONE, "no limits");
});

for (const [tags, field] of [
  ["disk-qos:disk0:iops:fast", "disk-qos:disk0:iops:fast"],
  ["disk-qos:disk0:speed:5", "disk-qos:disk0:speed:5"],
  ["disk-qos:disk0:iops:5 disk-qos:all:bps:1M", "disk-qos:disk0:iops:5"],
  ["disk-qos:disk1:bps:1M disk-qos:disk1:bps-rd:1M", "disk-qos:disk1:bps-rd:1M"],
  ["disk-qos:disk0:iops-max:50", "disk-qos:disk0:iops-max:50"],
] as const) {
  t.test(`a malformed tag refuses the start in one line, with nothing recorded: ${tags}`, async (t) => {
    const { n } = setup(t);
    t.equal((await recordTags(n, "disk-qos:disk0:iops:500")).code, 0);
    const before = readFileSync(qosRecordPath(join(n.dir, "ctrl"), "inst1.ganeti.test"), "utf8");
    const r = await recordTags(n, tags);
    t.equal(r.code, 2, "exit 2: Ganeti's pre phase stops the start");
    const lines = r.stderr.trim().split("\n");
    t.equal(lines.length, 1, r.stderr);
    t.match(lines[0], `instance tag '${field}'`, "the line names the tag");
    t.equal(readFileSync(qosRecordPath(join(n.dir, "ctrl"), "inst1.ganeti.test"), "utf8"), before, "the record is as it was");
  });
}

t.test("a live-migration target gets the limits before the migration starts", async (t) => {
  const { dir, n, env, argv } = setup(t);
  const n2 = node(join(dir, "node2"));
  linkDisks(n2, images(dir, 2).disks);
  t.equal((await run(LAUNCHER, argv, env)).code, 0, "the source starts without limits");
  const source = await daemon(t, n);
  await source.qmp.execute("cont");
  t.equal((await recordTags(n2, "disk-qos:disk1:iops:300")).code, 0, "Ganeti's migrate pre hook runs on the target");
  const port = await freePort();
  const target = [...onNode(argv, n, n2).filter((a) => a !== "-S"), "-incoming", `tcp:127.0.0.1:${port}`];
  const r = await run(LAUNCHER, target, env);
  t.equal(r.code, 0, `target started: ${r.stderr}`);
  const vm = await daemon(t, n2);
  t.equal((await throttleOf(vm.qmp, DISK1)).iops, 300, "the incoming target enforces them already");
  t.equal(await migrateTo(source.qmp, port), "completed");
  t.equal((await throttleOf(vm.qmp, DISK1)).iops, 300, "and after the migration");
});

t.test("`qos INSTANCE` changes the running VM's limits to the tags given, one line per change", async (t) => {
  const { n, env, argv } = setup(t);
  t.equal((await recordTags(n, "disk-qos:disk0:iops:500")).code, 0);
  t.equal((await run(LAUNCHER, argv, env)).code, 0);
  const vm = await daemon(t, n);
  vm.qmp.close(); // QEMU serves one QMP client at a time: the command's, then each look of ours
  const look = async (id: string) => {
    const q = await QmpClient.connect(n.qmp, { timeoutMs: 5000 });
    try {
      return await throttleOf(q, id);
    } finally {
      q.close();
    }
  };
  const qos = (...args: string[]) =>
    run(PLUGIN_COMMAND, ["qos", "inst1.ganeti.test", "--qmp-dir", join(n.dir, "ctrl"), ...args], {
      ...env,
      PATH: "/usr/bin:/bin",
    });
  const shown = await qos();
  t.equal(shown.code, 0, shown.stderr.toString());
  t.match(shown.stdout.toString(), /limits from this node's record/, "without Ganeti: the node's record");
  t.match(shown.stdout.toString(), `disk0 ${DISK0}: iops 500 (group ${DISK0})`);
  t.notMatch(shown.stdout.toString(), / set /, "nothing changed");
  const changed = await qos("--tags", "disk-qos:disk0:iops:200 disk-qos:disk1:bps-wr:1M");
  t.equal(changed.code, 0, changed.stderr.toString());
  const out = changed.stdout.toString();
  t.match(out, `set disk0 (${DISK0}): iops 200 (group ${DISK0}), was iops 500`);
  t.match(out, `set disk1 (${DISK1}): bps-wr 1M (group ${DISK1}), was none`);
  t.equal((await look(DISK0)).iops, 200);
  t.equal((await look(DISK1)).bps, 0);
  const cleared = await qos("--tags", "");
  t.equal(cleared.code, 0, cleared.stderr.toString());
  t.same(await look(DISK0), NONE, "no tags: no limits");
  t.notOk(existsSync(qosRecordPath(join(n.dir, "ctrl"), "inst1.ganeti.test")), "and no record for the next start");
  const bad = await qos("--tags", "disk-qos:disk0:iops:-1");
  t.equal(bad.code, 2);
  t.match(bad.stderr.toString(), /instance tag 'disk-qos:disk0:iops:-1'/);
});
