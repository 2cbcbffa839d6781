// Every storage layout of the cross product starts in real QEMU and is read back, or is refused
// before QEMU with the board's limit: disk_type × cdrom_disk_type × machine × 0/1/3 disks × 0/1/2
// CD-ROMs × floppy × boot_order (disk, or cdrom when there is one): 720 layouts, run 4 at a time.
// QEMU runs as Ganeti starts it (no -nodefaults), paused.
import { spawn } from "node:child_process";
import { existsSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import t from "tap";
import { storageArgv } from "../src/blockdev/argv.js";
import { ideCapacity, ideSlot, isHotpluggableDriver } from "../src/blockdev/devices.js";
import { instanceStorage } from "../src/blockdev/instance.js";
import type { Device, DiskSpec, QemuCaps } from "../src/blockdev/model.js";
import { storageSettings } from "../src/blockdev/settings.js";
import { PciSlots, ScsiIds } from "../src/blockdev/slots.js";
import { PluginError } from "../src/errors.js";
import type { HvParams } from "../src/generated/common.js";
import { QmpClient } from "../src/qmp/client.js";
import { qomGet } from "./helpers/inspect.js";
import { QEMU } from "./helpers/qemu.js";
import { tempDir } from "./helpers/tmp.js";

const CAPS: QemuCaps = { version: [7, 2, 0], ioUring: { usable: true, reason: "" } };
const WORKERS = 4;

interface Layout {
  name: string;
  hv: HvParams;
  disks: number;
}

function* layouts(): Generator<Layout> {
  for (const disk_type of ["paravirtual", "scsi-hd", "ide"] as const)
    for (const cdrom_disk_type of ["", "ide", "paravirtual", "scsi-cd"] as const)
      for (const machine of ["pc", "q35"])
        for (const disks of [0, 1, 3])
          for (const cdroms of [0, 1, 2])
            for (const floppy of [false, true])
              for (const boot_order of ["disk", "cdrom"] as const) {
                if (boot_order === "cdrom" && cdroms === 0) continue;
                yield {
                  name: `${disk_type}/${cdrom_disk_type || "-"}/${machine}/${disks}d/${cdroms}cd/${floppy ? "fd" : "-"}/${boot_order}`,
                  hv: {
                    disk_type,
                    cdrom_disk_type,
                    scsi_controller_type: "virtio-scsi-pci",
                    machine_version: machine === "pc" ? "pc-i440fx-7.2" : "pc-q35-7.2",
                    boot_order,
                    cdrom_image_path: cdroms >= 1 ? "@CD1@" : "",
                    cdrom2_image_path: cdroms >= 2 ? "@CD2@" : "",
                    floppy_image_path: floppy ? "@FD@" : "",
                  },
                  disks,
                };
              }
}

/** What QEMU shows of one of our devices. */
async function readBack(q: QmpClient, d: Device) {
  const id = d.props["id"] as string;
  const path = `/machine/peripheral/${id}`;
  const type = await qomGet<string>(q, path, "type");
  const out: Record<string, unknown> = { type };
  if (type.startsWith("ide-")) {
    out["bus"] = (await qomGet<string>(q, path, "parent_bus")).split("/").at(-1);
    out["unit"] = await qomGet<number>(q, path, "unit");
  } else if (type.startsWith("scsi-")) out["scsi-id"] = await qomGet<number>(q, path, "scsi-id");
  else if (type === "virtio-blk-pci" && d.props["addr"] !== undefined)
    out["addr"] = `0x${((await qomGet<number>(q, path, "addr")) >> 3).toString(16)}`;
  if (type !== "floppy" && type !== "isa-fdc") out["bootindex"] = await qomGet<number>(q, path, "bootindex");
  return out;
}

/** What the plan says QEMU should show. */
function planned(d: Device) {
  const p = d.props;
  const out: Record<string, unknown> = { type: d.driver };
  if (d.driver.startsWith("ide-")) Object.assign(out, { bus: p["bus"], unit: p["unit"] });
  else if (d.driver.startsWith("scsi-")) out["scsi-id"] = p["scsi-id"];
  else if (d.driver === "virtio-blk-pci" && p["addr"] !== undefined) out["addr"] = p["addr"];
  if (d.driver !== "floppy" && d.driver !== "isa-fdc") out["bootindex"] = p["bootindex"] ?? -1;
  return out;
}

async function runLayout(dir: string, worker: number, l: Layout): Promise<string | undefined> {
  const files = {
    "@CD1@": join(dir, "cd1.iso"),
    "@CD2@": join(dir, "cd2.iso"),
    "@FD@": join(dir, `fd-${worker}.img`),
  };
  const hv: HvParams = { ...l.hv };
  for (const k of ["cdrom_image_path", "cdrom2_image_path", "floppy_image_path"] as const) {
    const v = hv[k] as string;
    hv[k] = files[v as keyof typeof files] ?? v;
  }
  const disks: DiskSpec[] = Array.from({ length: l.disks }, (_, i) => {
    const uuid = `1a400000-000${i}-4000-8000-00000000000${i}`;
    return {
      index: i,
      uuid,
      devType: "file",
      mode: "rw",
      access: "kernelspace",
      link: join(dir, `disk-${worker}-${i}.img`),
      uri: null,
      ganeti: { uuid, dev_type: "file" },
    };
  });
  let storage: ReturnType<typeof instanceStorage>;
  try {
    storage = instanceStorage(
      disks,
      storageSettings(hv, () => {}),
      CAPS,
    );
  } catch (e) {
    if (e instanceof PluginError && e.code === "IDE_FULL") return `refused: ${e.message}`;
    return `planning failed: ${(e as Error).message}`;
  }
  const sock = join(dir, `qmp-${worker}.sock`);
  const qemu = spawn(
    QEMU,
    [
      "-accel",
      "tcg",
      "-display",
      "none",
      "-S",
      "-m",
      "32",
      "-machine",
      hv.machine_version as string,
      "-qmp",
      `unix:${sock},server=on,wait=off`,
      ...storageArgv(storage, CAPS),
    ],
    { stdio: ["ignore", "ignore", "pipe"] },
  );
  let err = "";
  qemu.stderr.on("data", (b: Buffer) => {
    err += b.toString();
  });
  const exited = new Promise<void>((r) => qemu.once("exit", () => r()));
  try {
    let q: QmpClient | undefined;
    for (let i = 0; i < 300 && !q; i++) {
      if (qemu.exitCode !== null) return `QEMU refused: ${err.trim()}`;
      if (existsSync(sock)) q = await QmpClient.connect(sock, { timeoutMs: 5000 }).catch(() => undefined);
      if (!q) await new Promise((r) => setTimeout(r, 20));
    }
    if (!q) return `QEMU did not answer: ${err.trim()}`;
    try {
      const problems: string[] = [];
      const blocks = await q.execute<{ qdev?: string; inserted?: { "node-name": string; ro: boolean } }[]>("query-block");
      for (const d of storage.devices) {
        if (
          d.driver.endsWith("controller") ||
          d.driver === "isa-fdc" ||
          d.driver.startsWith("virtio-scsi") ||
          d.driver === "lsi53c895a"
        )
          continue;
        const got = await readBack(q, d);
        const want = planned(d);
        if (JSON.stringify(got) !== JSON.stringify(want))
          problems.push(`${d.props["id"]}: ${JSON.stringify(got)} ≠ ${JSON.stringify(want)}`);
        const id = d.props["id"] as string;
        const medium = blocks.find((b) => b.qdev === id || b.qdev === `/machine/peripheral/${id}/virtio-backend`)?.inserted;
        if (!medium) problems.push(`${id}: no medium`);
        else if (medium.ro !== id.startsWith("cdrom")) problems.push(`${id}: read-only ${medium.ro}`);
      }
      return problems.length ? `wrong: ${problems.join("; ")}` : "started";
    } finally {
      q.close();
    }
  } finally {
    qemu.kill("SIGKILL");
    await exited;
  }
}

t.test("the whole cross product: every layout the board holds starts as planned, the others are refused", async (t) => {
  const dir = tempDir(t);
  for (const f of ["cd1.iso", "cd2.iso"]) writeFileSync(join(dir, f), Buffer.alloc(1 << 20));
  for (let w = 0; w < WORKERS; w++) {
    writeFileSync(join(dir, `fd-${w}.img`), Buffer.alloc(1440 << 10));
    for (let i = 0; i < 3; i++) writeFileSync(join(dir, `disk-${w}-${i}.img`), Buffer.alloc(1 << 20));
  }
  const all = [...layouts()];
  t.equal(all.length, 720, "720 layouts");
  const results = new Map<string, string>();
  let next = 0;
  await Promise.all(
    Array.from({ length: WORKERS }, async (_, w) => {
      for (let i = next++; i < all.length; i = next++) {
        const l = all[i] as Layout;
        results.set(l.name, (await runLayout(dir, w, l)) ?? "?");
      }
    }),
  );
  const outcome = (name: string) => results.get(name) ?? "not run";
  const refused = all.filter((l) => outcome(l.name).startsWith("refused"));
  const started = all.filter((l) => outcome(l.name) === "started");
  const ideCount = (l: Layout) =>
    (l.hv.disk_type === "ide" ? l.disks : 0) +
    ((l.hv.cdrom_disk_type || l.hv.disk_type) === "ide"
      ? [l.hv.cdrom_image_path, l.hv.cdrom2_image_path].filter(Boolean).length
      : 0);
  const tooMany = (l: Layout) => ideCount(l) > (l.hv.machine_version?.includes("q35") ? 6 : 4);
  t.same(
    all
      .filter((l) => !["started", "refused"].includes(outcome(l.name).split(":")[0] as string))
      .map((l) => `${l.name}: ${outcome(l.name)}`),
    [],
    "no layout failed or was read back wrong",
  );
  t.same(
    refused.filter((l) => !tooMany(l)).map((l) => l.name),
    [],
    "no layout that the board holds was refused",
  );
  t.same(
    started.filter(tooMany).map((l) => l.name),
    [],
    "no layout that the board cannot hold reached QEMU",
  );
  t.match(
    outcome("ide/-/pc/3d/2cd/-/disk"),
    /^refused: 5 IDE devices .* the pc \(i440fx\) board holds 4$/,
    "the refusal names the count and the limit",
  );
  t.equal(outcome("ide/-/q35/3d/2cd/fd/cdrom"), "started", "q35 holds 5 IDE devices, one per bus");
  t.comment(`${started.length} layouts started and read back, ${refused.length} refused before QEMU`);
});

t.test("machine families by name, and a recorded IDE position kept", async (t) => {
  for (const [m, cap] of [
    ["", 4],
    ["pc", 4],
    ["pc-i440fx-7.2", 4],
    ["q35", 6],
    ["pc-q35-7.2", 6],
  ] as const) {
    t.equal(ideCapacity(m), cap, `${m || "(QEMU's default)"}: ${cap} IDE devices`);
  }
  const disk = (i: number, hvinfo?: DiskSpec["hvinfo"]): DiskSpec => {
    const uuid = `1a400000-000${i}-4000-8000-00000000000${i}`;
    const spec: DiskSpec = {
      index: i,
      uuid,
      devType: "file",
      mode: "rw",
      access: "kernelspace",
      link: `/l/${i}`,
      uri: null,
      ganeti: { uuid, dev_type: "file" },
    };
    if (hvinfo) spec.hvinfo = hvinfo;
    return spec;
  };
  const moved = {
    driver: "ide" as const,
    id: "disk-1a400000-0000-4000",
    bus: "pci.0",
    addr: "0xc",
    "ide-bus": "ide.1",
    "ide-unit": 1,
  };
  const plan = instanceStorage(
    [disk(0, moved), disk(1)],
    storageSettings({ disk_type: "ide" }, () => {}),
    CAPS,
  );
  t.same(
    plan.devices.map((d) => [d.props["id"], d.props["bus"], d.props["unit"]]),
    [
      ["disk-1a400000-0000-4000", "ide.1", 1],
      ["disk-1a400000-0001-4000", "ide.0", 0],
    ],
    "disk 0 stays where its hvinfo says; disk 1 takes the first free position",
  );
  t.match(
    plan.runtimeDisks[1]?.[0].hvinfo,
    { "ide-bus": "ide.0", "ide-unit": 0, addr: "0xd" },
    "recorded, with Ganeti's PCI slot kept",
  );
});

t.test("slot allocators say what ran out, and what hot-plugs", async (t) => {
  const pci = new PciSlots(30);
  t.equal(pci.next("disk 0"), 30);
  t.equal(pci.last("cdrom1"), 31);
  t.throws(() => pci.next("disk 1"), {
    code: "NO_PCI_SLOT",
    message: /no free PCI slot for disk 1: slots 0x1e-0x1f are all taken/,
  });
  t.throws(() => pci.last("cdrom2"), { code: "NO_PCI_SLOT" });
  const scsi = new ScsiIds("lsi");
  for (let i = 0; i < 7; i++) scsi.next(`disk ${i}`);
  t.throws(() => scsi.next("disk 7"), { code: "NO_SCSI_ID", message: /lsi has 7 targets and all are taken/ });
  t.equal(ideSlot(4, "pc"), undefined, "pc has no fifth IDE position");
  t.same(ideSlot(5, "q35"), { bus: "ide.5", unit: 0 });
  t.ok(isHotpluggableDriver("scsi-hd") && isHotpluggableDriver("virtio-blk-pci") && !isHotpluggableDriver("ide-hd"));
});
