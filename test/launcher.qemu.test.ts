// hooks/qemu-launcher as Ganeti's kvm_path, against the real QEMU 7.2: probes pass through byte for
// byte, instance starts recorded from Ganeti 3.0.2 run on -blockdev with Ganeti's ids and slots,
// and every refusal is one line with nothing started.
import { spawn } from "node:child_process";
import { existsSync, readFileSync, symlinkSync, writeFileSync } from "node:fs";
import { type AddressInfo, connect, createServer } from "node:net";
import { join } from "node:path";
import t, { type Test } from "tap";
import { CACHE_DIR_VARIABLE, PASS_THROUGH_FILE } from "../src/launcher/pass-through.js";
import type { QmpClient } from "../src/qmp/client.js";
import { ROOT } from "./helpers/hook.js";
import { type BlockInfo, namedNodes, qomGet } from "./helpers/inspect.js";
import {
  daemon,
  INSTANCE,
  images,
  LAUNCHER,
  launcherEnv,
  linkDisks,
  node,
  REAL_QEMU,
  recordedArgv,
  run,
} from "./helpers/launcher.js";
import { tempDir } from "./helpers/tmp.js";

const PROBES = [
  ["--version"],
  ["--help"],
  ["-machine", "?"],
  ["-machine", "help"],
  ["-device", "?"],
  ["-device", "help"],
  ["-device", "virtio-blk-pci,help"],
  ["-no-such-option"],
  ["-M", "no-such-board"],
];

t.test("probes reach the real QEMU unchanged: same stdout, stderr and exit status, first and later calls", async (t) => {
  const dir = tempDir(t);
  const env = launcherEnv(dir);
  const record = join(dir, PASS_THROUGH_FILE);
  for (const probe of PROBES) {
    const direct = await run(REAL_QEMU, probe);
    for (const call of ["first", "again"]) {
      if (call === "first") writeFileSync(join(dir, "config.json"), JSON.stringify({ qemu: REAL_QEMU })); // a fresh edit: through Node
      const via = await run(LAUNCHER, probe, env);
      const what = `${probe.join(" ")} (${call})`;
      t.equal(via.code, direct.code, `${what}: exit ${direct.code}`);
      t.ok(via.stdout.equals(direct.stdout), `${what}: stdout identical (${direct.stdout.length} bytes)`);
      t.ok(via.stderr.equals(direct.stderr), `${what}: stderr identical`);
    }
  }
  t.equal(
    readFileSync(record, "utf8"),
    `${LAUNCHER}\n${REAL_QEMU}\npresent ${join(dir, "config.json")}\n${JSON.stringify({ qemu: REAL_QEMU })}`,
    "the pass-through record: the path called, QEMU's path, and the config as it was checked",
  );
});

t.test("an edited config is checked again before any probe passes through", async (t) => {
  const dir = tempDir(t);
  const env = launcherEnv(dir);
  t.equal((await run(LAUNCHER, ["--version"], env)).code, 0);
  t.ok(existsSync(join(dir, PASS_THROUGH_FILE)), "recorded");
  const cfg = join(dir, "config.json");
  writeFileSync(cfg, JSON.stringify({ qemu: REAL_QEMU, timeouts: { qmp: "ten" } }));
  const bad = await run(LAUNCHER, ["--version"], env);
  t.equal(bad.code, 2, "invalid config: exit 2");
  t.equal(bad.stdout.length, 0, "QEMU was not run");
  t.match(
    bad.stderr.toString(),
    /^qemu-launcher: error \[INVALID_CONFIG\]: config file .* at \$\.timeouts\.qmp: must be a number of seconds/,
  );
  t.equal(bad.stderr.toString().trim().split("\n").length, 1, "one line");
});

t.test("no config file: Ganeti's default /usr/bin/kvm, probes pass through without Node afterwards", async (t) => {
  const dir = tempDir(t);
  const env = launcherEnv(dir, null);
  const r = await run(LAUNCHER, ["--version"], env);
  if (existsSync("/usr/bin/kvm")) {
    t.equal(r.code, 0, r.stderr.toString());
    t.match(readFileSync(join(dir, PASS_THROUGH_FILE), "utf8"), /^\S+\/qemu-launcher\n\/usr\/bin\/kvm\nabsent /);
  } else {
    t.equal(r.code, 1);
    t.match(r.stderr.toString(), /QEMU_NOT_FOUND.*\/usr\/bin\/kvm/);
  }
});

t.test("config refusals: unknown field, wrong type, not JSON, the launcher itself as QEMU", async (t) => {
  const dir = tempDir(t);
  const cases: [string, unknown, RegExp, number][] = [
    ["unknown field", { qemu: REAL_QEMU, qmeu: "/x" }, /at \$: unknown field "qmeu"/, 2],
    ["wrong type", { qemu: 7 }, /at \$\.qemu: must be an absolute path/, 2],
    ["relative path", { qemu: "bin/kvm" }, /at \$\.qemu: must be an absolute path/, 2],
    ["not JSON", "{", /not JSON/, 2],
    ["the launcher", { qemu: LAUNCHER }, /QEMU_IS_LAUNCHER.*is this launcher itself/, 1],
    ["no such QEMU", { qemu: "/nonexistent/qemu" }, /QEMU_NOT_FOUND/, 1],
  ];
  for (const [what, doc, re, code] of cases) {
    const env = launcherEnv(dir);
    writeFileSync(join(dir, "config.json"), typeof doc === "string" ? doc : JSON.stringify(doc));
    for (const args of [["--version"], ["-name", INSTANCE, "-S"]]) {
      const r = await run(LAUNCHER, args, env);
      t.equal(r.code, code, `${what}, ${args[0]}: exit ${code}`);
      t.match(r.stderr.toString(), re, `${what}: names the field`);
      t.equal(r.stderr.toString().trim().split("\n").length, 1, `${what}: one line`);
      t.equal(r.stdout.length, 0, `${what}: nothing run`);
    }
  }
});

/** A recorded Ganeti start run through the launcher on a node of this test, as Ganeti runs kvm_path. */
async function launchRecorded(t: Test, recorded: string) {
  const dir = tempDir(t);
  const n = node(join(dir, "node1"));
  const files = images(dir, 2);
  linkDisks(n, files.disks);
  const r = await run(LAUNCHER, recordedArgv(recorded, n, files), launcherEnv(dir));
  t.equal(r.code, 0, `started: ${r.stderr}`);
  return { n, vm: await daemon(t, n) };
}

/** Every medium QEMU has attached, as query-block reports it. */
async function media(qmp: QmpClient) {
  const blocks = await qmp.execute<BlockInfo[]>("query-block");
  return blocks.filter((b) => b.inserted);
}

t.test(
  "a recorded Ganeti start (virtio disks, virtio CD-ROM, -boot c) runs on -blockdev with Ganeti's ids and slots",
  async (t) => {
    const { n, vm } = await launchRecorded(t, "instance-start");
    const attached = await media(vm.qmp);
    t.equal(attached.length, 3, "two disks and the CD-ROM");
    for (const b of attached) t.equal(b.device, "", `${b.inserted?.["node-name"]}: a -blockdev node, no -drive backend`);
    const nodes = await namedNodes(vm.qmp);
    for (const [i, id] of ["disk-077af63e-1010-4f10", "disk-10aa34ab-09b5-44dc"].entries()) {
      t.equal((await qomGet<number>(vm.qmp, id, "addr")) >> 3, 0xc + i, `${id} at Ganeti's slot ${0xc + i}`);
      t.equal(
        nodes.find((x) => x["node-name"] === `${id}-file`)?.file,
        join(n.disks, `${INSTANCE}:${i}`),
        `${id} opens Ganeti's link`,
      );
      t.equal(await qomGet(vm.qmp, id, "write-cache"), "off", `${id}: cache=writethrough keeps the device's write cache off`);
    }
    t.equal(await qomGet(vm.qmp, "disk-077af63e-1010-4f10", "bootindex"), 1, "-boot c became bootindex 1 on disk 0");
    t.equal(nodes.find((x) => x["node-name"] === "cdrom1")?.ro, true, "the CD-ROM is read-only");
    t.ok(existsSync(join(n.dir, "log", `${INSTANCE}.log`)), "QEMU's log where Ganeti put it");
  },
);

t.test(
  "a recorded CD-ROM boot (IDE CD-ROM, -boot d, aio=native, cache=none) keeps IDE unit 0 and QEMU's default CD-ROM",
  async (t) => {
    const { vm } = await launchRecorded(t, "instance-start-native-nocache-cdromboot");
    t.equal(await qomGet(vm.qmp, "cdrom1", "unit"), 0, "cdrom1 at unit 0");
    t.match(await qomGet(vm.qmp, "/machine/peripheral/cdrom1", "parent_bus"), /ide\.0$/, "on ide.0, where -drive if=ide put it");
    t.equal(await qomGet(vm.qmp, "cdrom1", "bootindex"), 1, "-boot d became bootindex 1 on cdrom1");
    const blocks = await vm.qmp.execute<BlockInfo[]>("query-block");
    const empty = blocks.filter((b) => !b.inserted && b.qdev?.includes("peripheral-anon"));
    t.equal(empty.length, 1, "QEMU's default empty CD-ROM is still there");
    for (const id of ["disk-077af63e-1010-4f10", "disk-10aa34ab-09b5-44dc"]) {
      t.equal(await qomGet(vm.qmp, id, "write-cache"), "on", `${id}: cache=none keeps the write cache on`);
    }
    t.ok(
      (await namedNodes(vm.qmp)).filter((x) => x["node-name"].startsWith("disk-")).every((x) => x.cache.direct),
      "O_DIRECT for cache=none",
    );
  },
);

/** The argv without its CD-ROM's -drive. */
function withoutCdrom(argv: readonly string[]): string[] {
  const at = argv.findIndex((a) => a.includes("media=cdrom"));
  return [...argv.slice(0, at - 1), ...argv.slice(at + 1)];
}

t.test("arguments the launcher cannot place: exit 1, one line naming the argument, nothing started", async (t) => {
  const dir = tempDir(t);
  const n = node(join(dir, "node1"));
  const files = images(dir, 2);
  linkDisks(n, files.disks);
  const base = recordedArgv("instance-start", n, files);
  const cases: [string, string[], RegExp][] = [
    ["a qcow2 drive", [...base, "-drive", `file=${files.disks[1]},format=qcow2,if=none,id=x`], /format=qcow2/],
    ["an unknown -drive key", [...base, "-drive", `file=${files.disks[1]},format=raw,if=none,id=x,snapshot=on`], /'snapshot'/],
    ["-hda", [...base, "-hda", files.disks[1] as string], /-hda is not supported/],
    ["a device naming no drive", [...base, "-device", "virtio-blk-pci,drive=nowhere"], /drive=nowhere names no -drive/],
    ["-boot d without a CD-ROM", withoutCdrom(base).map((a) => (a === "c" ? "d" : a)), /-boot d: names no drive/],
  ];
  for (const [what, argv, re] of cases) {
    const r = await run(LAUNCHER, argv, launcherEnv(dir));
    t.equal(r.code, 1, `${what}: exit 1`);
    t.match(r.stderr.toString(), /^qemu-launcher: error \[UNSUPPORTED_ARGV\]: argument /, `${what}: names the argument`);
    t.match(r.stderr.toString(), re, what);
    t.equal(r.stderr.toString().trim().split("\n").length, 1, `${what}: one line`);
    t.notOk(existsSync(n.pidfile), `${what}: QEMU was not started`);
  }
});

t.test("the launcher installed by symlink finds its own files", async (t) => {
  const dir = tempDir(t);
  const link = join(dir, "kvm");
  symlinkSync(LAUNCHER, link);
  const env = { ...launcherEnv(dir), [CACHE_DIR_VARIABLE]: join(dir, "cache") };
  const r = await run(link, ["-name", INSTANCE, "--version"], env);
  t.equal(r.code, 0, r.stderr.toString());
  t.match(r.stdout.toString(), /^QEMU emulator version/);
  t.equal(readFileSync(join(ROOT, "hooks/qemu-launcher"), "utf8").split("\n")[0], "#!/bin/sh", "a POSIX sh front");
});

t.test("a Ganeti 3.0 ext-storage disk at nbd+tcp:// (qemu-nbd) starts through the launcher, on QEMU's nbd driver", async (t) => {
  const dir = tempDir(t);
  const n = node(join(dir, "node1"));
  const img = join(dir, "export.raw");
  writeFileSync(img, Buffer.alloc(4 << 20));
  const port = await new Promise<number>((resolve) => {
    const probe = createServer().listen(0, "127.0.0.1", () => {
      const p = (probe.address() as AddressInfo).port;
      probe.close(() => resolve(p));
    });
  });
  const args = ["--persistent", "--format=raw", "--export-name=exp", "--bind=127.0.0.1", `--port=${port}`, img];
  const nbd = spawn("qemu-nbd", args, { stdio: "ignore" });
  t.teardown(() => {
    nbd.kill("SIGKILL");
  });
  const listening = () =>
    new Promise<boolean>((resolve) => {
      const s = connect(port, "127.0.0.1", () => {
        s.destroy();
        resolve(true);
      });
      s.on("error", () => resolve(false));
    });
  for (let i = 0; i < 250 && !(await listening()); i++) await new Promise((r) => setTimeout(r, 20));
  const argv = ["-name", INSTANCE, "-nodefaults", "-display", "none", "-S", "-daemonize", "-pidfile", n.pidfile];
  argv.push("-qmp", `unix:${n.qmp},server,nowait`, "-device", "virtio-blk-pci,id=d,drive=d");
  argv.push("-drive", `file=nbd+tcp://127.0.0.1:${port}/exp,format=raw,if=none,id=d`);
  const r = await run(LAUNCHER, argv, launcherEnv(dir));
  t.equal(r.code, 0, `started: ${r.stderr}`);
  const vm = await daemon(t, n);
  const nodes = await namedNodes(vm.qmp);
  t.equal(nodes.find((x) => x["node-name"] === "d-file")?.drv, "nbd", "the protocol node is nbd, not a file named nbd+tcp://…");
});
