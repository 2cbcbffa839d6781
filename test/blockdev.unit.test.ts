// The pure blockdev core, driven by test/fixtures/core-cases.json (input + expected).
import { readFileSync } from "node:fs";
import { join } from "node:path";
import t from "tap";
import { deviceArg, storageArgv } from "../src/blockdev/argv.js";
import { cacheSetting } from "../src/blockdev/cache.js";
import { checkNodeName, diskDeviceId, fileNodeName } from "../src/blockdev/ids.js";
import { instanceStorage } from "../src/blockdev/instance.js";
import type { DiskSpec, QemuCaps } from "../src/blockdev/model.js";
import { storageSettings } from "../src/blockdev/settings.js";
import { PluginError } from "../src/errors.js";
import { readHookEnv } from "../src/ganeti/env.js";
import { normalisedInput } from "../src/ganeti/uuid.js";
import type { HvParams } from "../src/generated/common.js";
import { wiring } from "./helpers/argv-wiring.js";
import { ROOT } from "./helpers/hook.js";

interface Case {
  name: string;
  hv: HvParams;
  caps?: { version?: [number, number, number]; ioUring?: boolean };
  disks: Array<Partial<DiskSpec> & { dev_type?: string; uri?: string }>;
  expect: {
    nodes?: unknown[];
    devices?: unknown[];
    hvinfo?: unknown[];
    warnings?: string[];
    error?: { code: string; message?: string };
  };
}

const cases = JSON.parse(readFileSync(join(ROOT, "test/fixtures/core-cases.json"), "utf8")) as Case[];

function spec(d: Case["disks"][number], i: number): DiskSpec {
  const uuid = d.uuid ?? `0000000${i}-aaaa-4bbb-8ccc-dddddddddddd`;
  const devType = (d.dev_type ?? "file") as DiskSpec["devType"];
  const s: DiskSpec = {
    index: i,
    uuid,
    devType,
    mode: d.mode ?? "rw",
    access: d.access ?? "kernelspace",
    link: `/links/inst:${i}`,
    uri: d.uri ?? null,
    ganeti: { uuid, dev_type: devType },
  };
  if (d.hvinfo) s.hvinfo = d.hvinfo;
  if (d.pathKind) s.pathKind = d.pathKind;
  return s;
}

for (const c of cases) {
  t.test(c.name, (t) => {
    const warnings: string[] = [];
    const version = c.caps?.version ?? [7, 2, 0];
    const caps: QemuCaps = {
      version,
      ioUring:
        c.caps?.ioUring === false
          ? { usable: false, reason: "io_uring_disabled = 2" }
          : version[0] >= 5
            ? { usable: true, reason: "" }
            : { usable: false, reason: "QEMU 4.2.0 is older than 5.0" },
    };
    const run = () =>
      instanceStorage(
        c.disks.map(spec),
        storageSettings(c.hv, (m) => warnings.push(m)),
        caps,
      );
    if (c.expect.error) {
      const err = (() => {
        try {
          run();
        } catch (e) {
          return e;
        }
        return undefined;
      })();
      t.type(err, PluginError, "a typed error");
      t.match(err, { code: c.expect.error.code, exitCode: 2 });
      if (c.expect.error.message) t.match((err as Error).message, new RegExp(c.expect.error.message));
      t.notMatch((err as Error).message, /\n/, "one line");
      t.end();
      return;
    }
    const out = run();
    if (c.expect.nodes)
      t.match(
        out.nodes.map((n) => n.props),
        c.expect.nodes,
        "block nodes",
      );
    if (c.expect.devices) t.match(out.devices, c.expect.devices, "devices");
    if (c.expect.hvinfo)
      t.match(
        out.runtimeDisks.map((e) => e[0].hvinfo),
        c.expect.hvinfo,
        "hvinfo",
      );
    for (const w of c.expect.warnings ?? [])
      t.ok(
        [...warnings, ...out.warnings].some((x) => x.includes(w)),
        `warns: ${w}`,
      );
    t.same(
      wiring(storageArgv(out, caps)),
      { dangling: [], unused: [] },
      "each device's drive is a -blockdev node, each node is used",
    );
    t.end();
  });
}

t.test("the cache table: one place, every mode", (t) => {
  const rows = (["default", "writeback", "none", "writethrough", "directsync", "unsafe"] as const).map((m) => {
    const c = cacheSetting(m, "file");
    return [m, c.writeCache, c.direct, c.noFlush];
  });
  t.same(rows, [
    ["default", true, false, false],
    ["writeback", true, false, false],
    ["none", true, true, false],
    ["writethrough", false, false, false],
    ["directsync", false, true, false],
    ["unsafe", true, false, true],
  ]);
  t.equal(cacheSetting("writeback", "rbd").mode, "writeback", "rbd is exempt from the shared-storage rule");
  t.equal(cacheSetting("unsafe", "blockdev").mode, "none", "blockdev is forced to none");
  t.end();
});

t.test("key=value -device doubles commas; JSON needs nothing", (t) => {
  const d = { driver: "virtio-blk-pci", props: { id: "a,b", serial: "x,,y=z", bootindex: 1, flag: true } };
  t.equal(deviceArg(d, false), "virtio-blk-pci,id=a,,b,serial=x,,,,y=z,bootindex=1,flag=on");
  t.same(JSON.parse(deviceArg(d, true)), { driver: "virtio-blk-pci", id: "a,b", serial: "x,,y=z", bootindex: 1, flag: true });
  t.end();
});

t.test("device ids are Ganeti's and fit QEMU's 31-character node names", (t) => {
  t.equal(diskDeviceId("932df160-7a22-4067-a566-7e0ca8386133"), "disk-932df160-7a22-4067");
  // Upper case is made lower where a uuid arrives (JSON input, runtime file, environment), once.
  const upper = "932DF160-7a22-4067-a566-7e0ca8386133";
  const disk = { uuid: upper, dev_type: "plain" } as const;
  const input = normalisedInput({ disk, runtime: [[], [], {}, [[disk, "/l", null]]] });
  t.equal(diskDeviceId(input.disk?.uuid ?? ""), "disk-932df160-7a22-4067");
  t.equal(diskDeviceId(input.runtime?.[3][0]?.[0].uuid ?? ""), "disk-932df160-7a22-4067");
  const env = readHookEnv({
    GANETI_HOOKS_PHASE: "pre",
    GANETI_INSTANCE_NAME: "vm1",
    GANETI_INSTANCE_DISK_COUNT: "1",
    GANETI_INSTANCE_DISK0_UUID: upper,
    GANETI_INSTANCE_DISK0_DEV_TYPE: "plain",
  });
  t.equal(diskDeviceId(env.pre.disks[0]?.uuid ?? ""), "disk-932df160-7a22-4067");
  const twoDisks = (second: string) => ({
    GANETI_HOOKS_PHASE: "pre",
    GANETI_INSTANCE_NAME: "vm1",
    GANETI_INSTANCE_DISK_COUNT: "2",
    GANETI_INSTANCE_DISK0_UUID: upper,
    GANETI_INSTANCE_DISK0_DEV_TYPE: "plain",
    GANETI_INSTANCE_DISK1_UUID: second,
    GANETI_INSTANCE_DISK1_DEV_TYPE: "plain",
  });
  t.throws(
    () => readHookEnv(twoDisks(upper.toLowerCase())),
    { code: "INVALID_ENV", message: /GANETI_INSTANCE_DISK1_UUID: same uuid as disk 0 \(932df160-/ },
    "uuids that differ only in case are one disk",
  );
  const { GANETI_INSTANCE_DISK1_UUID: _, ...missing } = twoDisks("");
  t.throws(() => readHookEnv(missing), {
    code: "INVALID_ENV",
    message: /GANETI_INSTANCE_DISK1_UUID: required but missing \(GANETI_INSTANCE_DISK_COUNT=2\)/,
  });
  // The longest name a disk gets, its protocol child's, is one QEMU takes; one character more is refused.
  const child = fileNodeName(diskDeviceId("932df160-7a22-4067-a566-7e0ca8386133"));
  t.equal(checkNodeName(child), child, `${child} is a valid node name`);
  t.throws(() => checkNodeName(child.padEnd(32, "x")), { code: "BAD_NODE_NAME" }, "32 characters are not");
  t.end();
});
