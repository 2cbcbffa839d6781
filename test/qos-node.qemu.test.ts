// Per-disk I/O limits on a node, in process against a real (paused) QEMU: what the disk-qos hook,
// the launcher, `qos` and verify's status share (src/qos), each path tried, failures included.
// The same code runs as the hooks and the launcher in test/qos.qemu.test.ts and under real Ganeti.
import { chmodSync, existsSync, mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import t from "tap";
import { diskDeviceId } from "../src/blockdev/ids.js";
import { PluginError } from "../src/errors.js";
import { qosDirOf } from "../src/ganeti/paths.js";
import { startThrottles } from "../src/launcher/start-throttles.js";
import { QmpClient } from "../src/qmp/client.js";
import { applyQemuThrottles } from "../src/qos/at-start.js";
import { instanceQos } from "../src/qos/instance.js";
import { qosRecordPath, readQosRecord, recordOf, recordTargets, writeQosRecord } from "../src/qos/record.js";
import { deviceIdOfQdev, enforced, nodeLimits, runningLimits, setRunningLimits, withLimits } from "../src/qos/running.js";
import { INSTANCE, startInstance } from "./helpers/instance.js";
import { tempDir } from "./helpers/tmp.js";

const UUIDS = ["077af63e-1010-4f10-afbc-38b0886148d0", "10aa34ab-09b5-44dc-b483-435c5ea120a7"];
const [ID0, ID1] = UUIDS.map(diskDeviceId) as [string, string];
const STATUS = { version: "1", build: "b", hooks: [], launcher: [], problems: [] };

t.test("set, read back, set again (nothing sent), the node's report, and `qos` in process", async (t) => {
  const inst = await startInstance(t, { disk_type: "paravirtual" });
  const qmpDir = inst.base;
  const { targets } = recordTargets({ tags: ["disk-qos:disk0:iops:300", "disk-qos:disk1:bps:1M"], disks: UUIDS });
  const q = await QmpClient.connect(inst.vm.hookSocket, { timeoutMs: 5000 });
  const first = await setRunningLimits(q, targets);
  t.same(first.changes, [`disk0 (${ID0}): iops 300 (group ${ID0}), was none`, `disk1 (${ID1}): bps 1M (group ${ID1}), was none`]);
  t.ok(first.disks.every(enforced), "QEMU enforces what was asked");
  t.same((await setRunningLimits(q, targets)).changes, [], "asked again: no command");
  t.same((await runningLimits(q)).get(ID1), {
    limits: { bps: 1 << 20 },
    group: ID1,
    qdev: `/machine/peripheral/${ID1}/virtio-backend`,
  });
  q.close();

  const report = await nodeLimits(qmpDir, [INSTANCE, "gone.example.org"]);
  t.equal(report.length, 1, "an instance whose QEMU does not answer is left out");
  t.same(
    report[0]?.disks.find((d) => d.id === ID0),
    { id: ID0, limits: { iops: 300 }, group: ID0 },
  );
  const withRunning = await withLimits({ ...STATUS, running: [{ instance: INSTANCE, machine: "pc" }] }, qmpDir);
  t.ok(withRunning.limits?.length === 1, "status --json carries them");
  const idle = { ...STATUS };
  t.equal(await withLimits(idle, qmpDir), idle, "no running instance: the status as it was");
  t.equal(deviceIdOfQdev(`/machine/peripheral/${ID0}/virtio-backend`), ID0);
  t.equal(deviceIdOfQdev("scsi-disk-1"), "scsi-disk-1");

  const paths = { diskDir: inst.diskDir, qmpDir, runtimeDir: qmpDir, cacheDir: join(qmpDir, "cache") };
  const said: string[] = [];
  const shown = await instanceQos(
    { instance: INSTANCE, paths, qmpTimeoutMs: 5000, lockTimeoutMs: 5000, tags: ["disk-qos:all:iops:50"], disks: UUIDS },
    (l) => said.push(l),
  );
  t.same(said, [
    `${INSTANCE}: set disk0 (${ID0}): iops 50 (group disk-qos-all), was iops 300`,
    `${INSTANCE}: set disk1 (${ID1}): iops 50 (group disk-qos-all), was bps 1M`,
  ]);
  t.same(shown, [
    `${INSTANCE}: limits from --tags (disk-qos:all:iops:50)`,
    `disk0 ${ID0}: iops 50 (group disk-qos-all)`,
    `disk1 ${ID1}: iops 50 (group disk-qos-all)`,
  ]);
  t.same(readQosRecord(qmpDir, INSTANCE), { tags: ["disk-qos:all:iops:50"], disks: UUIDS }, "recorded for the next start");
  const fromRecord = await instanceQos({ instance: INSTANCE, paths, qmpTimeoutMs: 5000, lockTimeoutMs: 5000 }, () => {});
  t.match(fromRecord[0], /limits from this node's record/, "no tags given, no Ganeti: the node's record");
  const other = { instance: "other.example.org", paths, qmpTimeoutMs: 5000, lockTimeoutMs: 5000 };
  await t.rejects(
    instanceQos({ ...other, tags: [], disks: [] }, () => {}),
    { code: "NOT_RUNNING_HERE" },
  );
  await t.rejects(
    instanceQos(other, () => {}),
    { code: "QOS_UNKNOWN" },
  );
  await t.rejects(
    instanceQos({ ...other, tags: ["disk-qos:disk0:iops:x"] }, () => {}),
    { code: "BAD_QOS_TAG" },
  );
});

t.test("the node's record: written atomically, removed without tags, trusted only when root's alone", async (t) => {
  const ctrl = join(tempDir(t), "ctrl");
  mkdirSync(ctrl);
  t.same(recordOf(["web", "disk-qos:disk0:iops:5"], [{ uuid: "u0" }]), { tags: ["disk-qos:disk0:iops:5"], disks: ["u0"] });
  const path = writeQosRecord(ctrl, INSTANCE, { tags: ["disk-qos:disk0:iops:5"], disks: UUIDS });
  t.equal(path, qosRecordPath(ctrl, INSTANCE));
  t.same(readQosRecord(ctrl, INSTANCE)?.tags, ["disk-qos:disk0:iops:5"]);
  writeFileSync(qosRecordPath(ctrl, INSTANCE), "{not json");
  t.equal(readQosRecord(ctrl, INSTANCE), undefined, "unreadable: none");
  writeFileSync(qosRecordPath(ctrl, INSTANCE), JSON.stringify({ tags: "x" }), { mode: 0o600 });
  t.equal(readQosRecord(ctrl, INSTANCE), undefined, "not a record: none");
  t.equal(writeQosRecord(ctrl, INSTANCE, { tags: [], disks: UUIDS }), undefined);
  t.notOk(existsSync(qosRecordPath(ctrl, INSTANCE)), "no tags: no record");
  chmodSync(qosDirOf(ctrl), 0o777);
  t.throws(() => writeQosRecord(ctrl, INSTANCE, { tags: ["disk-qos:disk0:iops:5"], disks: UUIDS }), /is not root's alone/);
  t.equal(readQosRecord(ctrl, INSTANCE), undefined, "a directory others may write: nothing trusted");
});

t.test("what the launcher reads of its argv: the QMP socket, the devices, -daemonize, the pid file", async (t) => {
  const ctrl = join(tempDir(t), "ctrl");
  mkdirSync(ctrl);
  const qmp = join(ctrl, `${INSTANCE}.qmp`);
  const argv = [
    "-name", INSTANCE, "-daemonize", "-pidfile", "/run/x.pid",
    "-qmp", `unix:${ctrl}/${INSTANCE}.kvmd,server,nowait`, "-qmp", `unix:${qmp},server,nowait`,
    "-device", JSON.stringify({ driver: "virtio-blk-pci", id: ID0, drive: ID0 }),
    "-device", `scsi-hd,id=${ID1},drive=${ID1}`, "-device", "{broken",
  ]; // biome-ignore format: argv pairs
  t.equal(startThrottles(INSTANCE, argv), undefined, "no record: nothing to do");
  writeQosRecord(ctrl, INSTANCE, { tags: ["disk-qos:disk0:iops:5", "disk-qos:disk1:bps:1M"], disks: UUIDS });
  const s = startThrottles(INSTANCE, argv);
  t.same(
    { qmp: s?.qmp, pidfile: s?.pidfile, daemonizes: s?.daemonizes, qdevs: s?.targets.map((x) => x.qdev) },
    { qmp, pidfile: "/run/x.pid", daemonizes: true, qdevs: [`/machine/peripheral/${ID0}/virtio-backend`, ID1] },
  );
  t.equal(
    startThrottles(
      INSTANCE,
      argv.filter((a) => a !== "-qmp" && !a.startsWith("unix:")),
    ),
    undefined,
    "no QMP socket",
  );
  t.equal(startThrottles(INSTANCE, ["-name", INSTANCE, "-qmp", `unix:path=${qmp},server=on`]), undefined, "no limited disk here");
});

t.test("a limit the launcher cannot set fails the start, and the paused QEMU is killed", async (t) => {
  const inst = await startInstance(t, { disk_type: "paravirtual" });
  const pidfile = join(inst.base, "qemu.pid");
  writeFileSync(pidfile, String(inst.vm.pid));
  const t0 = { id: "disk-nonexistent", index: 0, limits: { iops: 5 }, group: "g" };
  const e = await applyQemuThrottles({ qmp: inst.vm.hookSocket, pidfile, daemonizes: true, targets: [t0] }, INSTANCE).catch(
    (x: unknown) => x,
  );
  t.ok(e instanceof PluginError && e.code === "QOS_NOT_APPLIED", "QOS_NOT_APPLIED");
  t.match((e as Error).message, new RegExp(`could not be set .*; the paused QEMU \\(pid ${inst.vm.pid}\\) was killed`));
  for (let i = 0; i < 100 && inst.vm.proc.exitCode === null && inst.vm.proc.signalCode === null; i++)
    await new Promise((r) => setTimeout(r, 20));
  t.equal(inst.vm.proc.signalCode, "SIGKILL", "QEMU is gone");
  const noPid = await applyQemuThrottles(
    { qmp: join(inst.base, "none.qmp"), pidfile: undefined, daemonizes: true, targets: [t0] },
    INSTANCE,
  ).catch((x: unknown) => x);
  t.match((noPid as Error).message, /QEMU was left paused \(no -pidfile/);
});
