// The demo: an example instance through hooks/instance-start, a real QEMU started with the result,
// what QEMU reports per disk, then a disk hot-added and hot-removed through the hooks.
// Everything lives in a temp dir that is removed at the end; QEMU is killed by its PID.
import { type ChildProcess, execFileSync, spawn, spawnSync } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { QmpClient } from "../src/qmp/client.js";
import { runtimeDocument } from "./lib/ganeti-runtime.mjs";
import { QEMU_TCG } from "./lib/qemu-args.mjs";

const root = resolve(__dirname, "..");
const dir = mkdtempSync(join(tmpdir(), "gqb-demo-"));
const diskDir = join(dir, "instance-disks");
let qemu: ChildProcess | undefined;
const cleanup = () => {
  if (qemu?.pid && qemu.exitCode === null) qemu.kill("SIGKILL");
  rmSync(dir, { recursive: true, force: true });
};
process.on("exit", cleanup);
process.on("SIGINT", () => process.exit(130));

const qemuPath = execFileSync("sh", ["-c", "command -v qemu-system-x86_64"], { encoding: "utf8" }).trim();
const env: Record<string, string> = { PATH: process.env["PATH"] ?? "/usr/bin:/bin" };
mkdirSync(diskDir);
const iso = join(dir, "install cd, v1.iso");
const floppy = join(dir, "floppy.img");
writeFileSync(iso, Buffer.alloc(2 << 20));
writeFileSync(floppy, Buffer.alloc(1474560));
for (const lineText of readFileSync(join(root, "examples/instance.env"), "utf8").split("\n")) {
  const i = lineText.indexOf("=");
  if (i > 0)
    env[lineText.slice(0, i)] = lineText
      .slice(i + 1)
      .replace("@ISO@", iso)
      .replace("@FLOPPY@", floppy)
      .replace("@QEMU@", qemuPath);
}
const instance = env["GANETI_INSTANCE_NAME"] as string;
const addDisk = (index: number) => {
  const img = join(dir, `disk${index}.img`);
  writeFileSync(img, Buffer.alloc(64 << 20));
  symlinkSync(img, join(diskDir, `${instance}:${index}`));
  return img;
};
addDisk(0);
addDisk(1);
const paths = ["--disk-dir", diskDir, "--qmp-dir", dir, "--runtime-dir", dir, "--cache-dir", join(dir, "cache")];

function hook(name: string, input?: string): { code: number; json: { [k: string]: unknown } } {
  const r = spawnSync(join(root, "hooks", name), paths, { env, cwd: "/", input: input ?? "", encoding: "utf8" });
  if (r.stderr.trim()) process.stdout.write(r.stderr.replace(/^/gm, "    "));
  return { code: r.status ?? 1, json: r.stdout.trim() ? JSON.parse(r.stdout.trim().split("\n")[0] as string) : {} };
}

async function table(q: QmpClient, title: string) {
  type Blk = {
    qdev: string;
    device: string;
    inserted?: { "node-name": string; ro: boolean; cache: { writeback: boolean; direct: boolean; "no-flush": boolean } };
  };
  const blocks = await q.execute<Blk[]>("query-block");
  const nodes = await q.execute<{ "node-name": string; drv: string }[]>("query-named-block-nodes", { flat: true });
  const rows = [["device id", "QEMU device", "where", "node", "protocol", "direct", "no-flush", "write-back", "ro", "boot"]];
  for (const b of blocks) {
    const id = b.qdev.replace(/^\/machine\/peripheral\/(.*)\/virtio-backend$/, "$1");
    const get = (p: string) => q.execute("qom-get", { path: `/machine/peripheral/${id}`, property: p }).catch(() => undefined);
    const type = String(await get("type"));
    const where = type.startsWith("scsi")
      ? `scsi-id ${await get("scsi-id")}`
      : type.startsWith("virtio")
        ? `pci 0x${(Number(await get("addr")) >> 3).toString(16)}`
        : "board";
    const node = b.inserted?.["node-name"] ?? "-";
    const proto = nodes.find((n) => n["node-name"] === `${node}-file`)?.drv ?? "-";
    const c = b.inserted?.cache;
    const boot = await get("bootindex");
    rows.push([
      id,
      type,
      where,
      node,
      proto,
      String(c?.direct ?? "-"),
      String(c?.["no-flush"] ?? "-"),
      String(c?.writeback ?? "-"),
      String(b.inserted?.ro ?? "-"),
      boot === undefined || boot === -1 ? "-" : String(boot),
    ]);
  }
  const widths = rows[0]?.map((_c, i) => Math.max(...rows.map((r) => (r[i] ?? "").length))) ?? [];
  console.log(`\n${title}`);
  for (const r of rows) console.log(`  ${r.map((cell, i) => cell.padEnd(widths[i] ?? 0)).join("  ")}`);
}

async function main() {
  console.log(`QEMU: ${execFileSync(qemuPath, ["--version"], { encoding: "utf8" }).split("\n")[0]}`);
  console.log(
    `1. hooks/instance-start for ${instance} (2 scsi-hd disks on virtio-scsi-pci, cache none, aio native, an IDE CD-ROM, a floppy)`,
  );
  const start = hook("instance-start");
  if (start.code !== 0) throw new Error("instance-start failed");
  const argv = start.json["argv"] as string[];
  for (let i = 0; i < argv.length; i += 2) console.log(`    ${argv[i]} ${argv[i + 1]}`);
  writeFileSync(join(dir, `${instance}.runtime`), runtimeDocument(qemuPath, env, start.json["disks"]));

  console.log("\n2. QEMU started with those arguments (TCG, paused)");
  const monitor = join(dir, "demo-monitor.qmp");
  qemu = spawn(
    qemuPath,
    [
      ...QEMU_TCG,
      "-S",
      "-machine",
      "pc",
      "-m",
      "64",
      "-qmp",
      `unix:${join(dir, `${instance}.qmp`)},server=on,wait=off`,
      "-qmp",
      `unix:${monitor},server=on,wait=off`,
      ...argv,
    ],
    { stdio: ["ignore", "ignore", "inherit"] },
  );
  for (let i = 0; i < 200 && !existsSync(monitor); i++) await new Promise((r) => setTimeout(r, 25));
  const q = await QmpClient.connect(monitor);
  await table(q, "What QEMU reports per disk:");

  console.log("\n3. hooks/disk-add: a third disk, hot-plugged");
  const hot = addDisk(2);
  const payload = JSON.stringify({
    disk: {
      uuid: "6c7d8e9f-2a2b-4c2d-8e2f-303132333435",
      dev_type: "file",
      mode: "rw",
      size: 64,
      name: "hot",
      logical_id: ["loop", hot],
    },
    index: 2,
  });
  const add = hook("disk-add", payload);
  console.log(
    `    exit ${add.code}: ${JSON.stringify(add.json["change"])} hvinfo ${JSON.stringify((add.json["disk"] as [{ hvinfo: unknown }])[0].hvinfo)}`,
  );
  await table(q, "After disk-add:");

  console.log("\n4. hooks/disk-remove: the same disk, hot-unplugged (device_del, DEVICE_DELETED, blockdev-del)");
  const rm = hook("disk-remove", payload);
  console.log(`    exit ${rm.code}: ${JSON.stringify(rm.json["change"])}`);
  await table(q, "After disk-remove:");
  q.close();
}

main().then(
  () => process.exit(0),
  (e: unknown) => {
    console.error(`demo failed: ${e instanceof Error ? e.message : String(e)}`);
    process.exit(1);
  },
);
