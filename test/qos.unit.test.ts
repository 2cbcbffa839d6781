// The disk-qos: tag grammar and what it becomes for QEMU: pure, so every rule is tried here, and
// the real-QEMU suites (qos.qemu.test.ts, qos-guest.qemu.test.ts) prove QEMU takes what it makes.
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import t from "tap";
import {
  ALL_GROUP,
  backendPath,
  describeLimits,
  limitsOf,
  qosPolicy,
  sameLimits,
  throttleArguments,
  throttleTargets,
} from "../src/blockdev/qos.js";
import { PluginError } from "../src/errors.js";
import { tempDir } from "./helpers/tmp.js";

const K = 1024;

t.test("disk and group limits, with units, bursts and other tags ignored", async (t) => {
  const p = qosPolicy([
    "web",
    "disk-qos:disk0:iops:500",
    "disk-qos:disk0:iops-max:800",
    "disk-qos:disk12:bps-wr:3G",
    "owner:ops",
  ]);
  t.same(Object.fromEntries(p.disks), { 0: { iops: 500, iops_max: 800 }, 12: { bps_wr: 3 * K ** 3 } });
  t.equal(p.all, undefined);
  const g = qosPolicy(["disk-qos:all:bps:200M", "disk-qos:all:iops-rd:40"]);
  t.same(g.all, { bps: 200 * K * K, iops_rd: 40 });
  t.equal(g.disks.size, 0);
  t.same(qosPolicy([]), { disks: new Map() });
  t.same(qosPolicy(["disk-qos:disk1:bps:7K"]).disks.get(1), { bps: 7 * K });
});

const refused: [string[], RegExp][] = [
  [["disk-qos:disk0:iops"], /'disk-qos:disk0:iops': expected disk-qos:disk<N>\|all:<knob>:<value>/],
  [["disk-qos:disk0:iops:5:6"], /expected/],
  [["disk-qos:vda:iops:5"], /'vda' is neither disk<N>/],
  [["disk-qos:disk01:iops:5"], /'disk01' is neither/],
  [["disk-qos:disk0:latency:5"], /unknown knob 'latency' \(known: bps, bps-rd/],
  [["disk-qos:disk0:iops:5K"], /a positive integer \(operations per second\)/],
  [["disk-qos:disk0:bps:1T"], /optionally ending in K, M or G/],
  [["disk-qos:disk0:bps:0"], /from 1 to/],
  [["disk-qos:disk0:bps:2000000G"], /from 1 to 1000000000000000/],
  [
    ["disk-qos:disk0:iops:5", "disk-qos:disk0:iops:6"],
    /'disk-qos:disk0:iops:6': sets iops again \(also 'disk-qos:disk0:iops:5'\)/,
  ],
  [
    ["disk-qos:all:bps:1M", "disk-qos:all:bps-wr:1M"],
    /'disk-qos:all:bps-wr:1M': a total bps limit \(disk-qos:all:bps:1M\) and a read\/write one/,
  ],
  [["disk-qos:disk0:iops-max:9"], /'disk-qos:disk0:iops-max:9': a burst needs its rate \(iops\)/],
  [
    ["disk-qos:disk0:iops:10", "disk-qos:disk0:iops-max:9"],
    /'disk-qos:disk0:iops-max:9': the burst is lower than the rate \(10\)/,
  ],
  [
    ["disk-qos:disk3:iops:10", "disk-qos:all:bps:1M"],
    /'disk-qos:disk3:iops:10': a disk limit and a disk-qos:all limit \('disk-qos:all:bps:1M'\)/,
  ],
];
for (const [tags, re] of refused) {
  t.test(`refused in one line naming the tag: ${tags.join(" ")}`, async (t) => {
    const e = t.throws(() => qosPolicy(tags)) as PluginError;
    t.ok(e instanceof PluginError && e.code === "BAD_QOS_TAG" && e.exitCode === 2, "BAD_QOS_TAG, exit 2");
    t.match(e.message, re);
    t.notMatch(e.message, /\n/);
  });
}

t.test("targets: every disk listed, in its own group or the shared one; no limits clear", async (t) => {
  const disks = [
    { index: 0, id: "disk-a" },
    { index: 1, id: "disk-b" },
  ];
  const own = throttleTargets(qosPolicy(["disk-qos:disk1:iops:5"]), disks);
  t.same(own, [
    { id: "disk-a", index: 0, limits: {}, group: "disk-a" },
    { id: "disk-b", index: 1, limits: { iops: 5 }, group: "disk-b" },
  ]);
  t.same(
    throttleArguments(own[0] as (typeof own)[0]),
    { id: "disk-a", bps: 0, bps_rd: 0, bps_wr: 0, iops: 0, iops_rd: 0, iops_wr: 0 },
    "no group when clearing",
  );
  const shared = throttleTargets(qosPolicy(["disk-qos:all:bps:1M", "disk-qos:all:bps-max:2M"]), disks);
  t.ok(shared.every((s) => s.group === ALL_GROUP));
  t.same(throttleArguments({ ...(shared[1] as (typeof shared)[1]), qdev: backendPath("disk-b", "virtio-blk-pci") }), {
    id: "/machine/peripheral/disk-b/virtio-backend",
    bps: K * K,
    bps_rd: 0,
    bps_wr: 0,
    iops: 0,
    iops_rd: 0,
    iops_wr: 0,
    bps_max: 2 * K * K,
    group: ALL_GROUP,
  });
  t.equal(backendPath("disk-c", "scsi-hd"), "disk-c", "a SCSI disk's BlockBackend is the device's own");
});

t.test("QEMU's answer read back, and described as tags write it", async (t) => {
  const inserted = {
    bps: 0,
    bps_rd: 0,
    bps_wr: 2 * K * K,
    iops: 500,
    iops_rd: 0,
    iops_wr: 0,
    iops_max: 800,
    group: "g",
    ro: false,
  };
  t.same(limitsOf(inserted), { bps_wr: 2 * K * K, iops: 500, iops_max: 800 }, "rates and bursts, nothing else");
  t.ok(sameLimits({ iops: 5 }, { iops: 5, bps: 0 }));
  t.notOk(sameLimits({ iops: 5 }, { iops: 6 }));
  t.equal(
    describeLimits({ iops: 500, bps_wr: 3 * K ** 3, bps: 1536 * K, bps_rd: 1000 }),
    "bps 1536K, bps-rd 1000, bps-wr 3G, iops 500",
  );
  t.equal(describeLimits({}), "none");
});

t.test("the master's verify: one line per running instance whose limits are not its tags'", async (t) => {
  const { qosGaps } = await import("../src/node/cluster-verify.js");
  const uuid0 = "077af63e-1010-4f10-afbc-38b0886148d0";
  const uuid1 = "10aa34ab-09b5-44dc-b483-435c5ea120a7";
  const [id0, id1] = ["disk-077af63e-1010-4f10", "disk-10aa34ab-09b5-44dc"];
  const place = (tags: string[]) => ({ primary: "n1", receivers: [], tags, disks: [uuid0, uuid1] });
  const status = (disks: { id: string; limits: Record<string, number>; group?: string }[]) =>
    new Map([["n1", { version: "1", build: "b", hooks: [], launcher: [], problems: [], limits: [{ instance: "web1", disks }] }]]);
  const enforcing = status([
    { id: id0, limits: { iops: 500 }, group: id0 },
    { id: id1, limits: {} },
  ]);
  t.same(qosGaps(enforcing, new Map([["web1", place(["disk-qos:disk0:iops:500"])]])), [], "as the tags ask: nothing");
  t.same(qosGaps(enforcing, new Map([["web1", place(["disk-qos:disk0:iops:500", "disk-qos:disk1:bps:1M"])]])), [
    `instance web1 on n1: disk1 runs with none, its tags ask bps 1M (group ${id1}); run \`ganeti-qemu-blockdev qos web1\` on the master`,
  ]);
  t.same(
    qosGaps(enforcing, new Map([["web1", place([])]])),
    [
      `instance web1 on n1: disk0 runs with iops 500 (group ${id0}), its tags ask none; run \`ganeti-qemu-blockdev qos web1\` on the master`,
    ],
    "tags removed, limits left",
  );
  t.match(
    qosGaps(enforcing, new Map([["web1", place(["disk-qos:all:iops:500"])]])),
    [
      /disk0 runs with iops 500 \(group disk-077af63e-1010-4f10\), its tags ask iops 500 \(group disk-qos-all\); disk1 runs with none/,
    ],
    "the same rate in another group differs too; both disks in the instance's one line",
  );
  t.match(
    qosGaps(enforcing, new Map([["web1", place(["disk-qos:disk0:iops:x"])]]))[0],
    /^instance web1: instance tag 'disk-qos:disk0:iops:x'/,
  );
  t.same(qosGaps(enforcing, new Map()), [], "an instance Ganeti does not list: nothing");
});

t.test("qos on the master: an instance on another node is handed to it, with Ganeti's tags and disks", async (t) => {
  const { instanceQos } = await import("../src/qos/instance.js");
  const dir = tempDir(t);
  const path = process.env["PATH"];
  t.teardown(() => {
    process.env["PATH"] = path;
  });
  const uuid = "077af63e-1010-4f10-afbc-38b0886148d0";
  // Stand-ins for Ganeti's CLI, where none runs: their output as Ganeti prints it.
  writeFileSync(join(dir, "gnt-instance"), `#!/bin/sh\nprintf "disk-qos:disk0:iops:5|['${uuid}']|node2.example.org\\n"\n`, {
    mode: 0o755,
  });
  const cluster = (code: number) =>
    writeFileSync(
      join(dir, "gnt-cluster"),
      `#!/bin/sh\necho "$@" >"${dir}/args"\nprintf -- '------------------------------------------------\\ncmd: x\\nnode: node2.example.org\\nweb1: set disk0: iops 5\\nreturn code = ${code}\\n'\nexit ${code}\n`,
      { mode: 0o755 },
    );
  cluster(0);
  process.env["PATH"] = `${dir}:/usr/bin:/bin`;
  const paths = { diskDir: dir, qmpDir: join(dir, "ctrl"), runtimeDir: dir, cacheDir: dir };
  const req = { instance: "web1", paths, qmpTimeoutMs: 1000, lockTimeoutMs: 1000 };
  t.same(await instanceQos(req, () => {}), ["web1: set disk0: iops 5"], "its output, without gnt-cluster command's own lines");
  t.equal(
    readFileSync(join(dir, "args"), "utf8").trim(),
    `command -n node2.example.org ganeti-qemu-blockdev qos web1 --tags 'disk-qos:disk0:iops:5' --disk-uuids ${uuid}`,
  );
  cluster(1);
  await t.rejects(
    instanceQos(req, () => {}),
    { code: "QOS_REMOTE_FAILED", message: /on its primary node node2.example.org: .*return code = 1/ },
  );
});
