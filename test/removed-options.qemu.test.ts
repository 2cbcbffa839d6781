// Options QEMU removed that Ganeti 3.0 still writes (-chroot, -runas, -no-acpi, -soundhw): through the
// launcher, QEMU runs chrooted, as the user, with ACPI off, whether this QEMU still has the old
// options (passed on as Ganeti wrote them) or not (rewritten into -run-with and acpi=off). Which
// one this QEMU is, is asked of its -help; `npm run test:debian13` runs this on a QEMU without them.
// Also what cannot be bridged, refused in one line before QEMU fails less clearly: a machine type
// this QEMU dropped, a gluster disk on a QEMU without the gluster driver (test:debian13-backports:
// Debian's QEMU 11.1 has none).
import { execFileSync } from "node:child_process";
import { chmodSync, existsSync, mkdirSync, readFileSync, readlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import t from "tap";
import { splitOptions, wordsOf } from "../src/ganeti/kvm-argv.js";
import { bridgeRemoved as bridgeOpts } from "../src/launcher/removed-options.js";
import { QmpClient } from "../src/qmp/client.js";
import { LAUNCHER, launcherEnv, REAL_QEMU, run } from "./helpers/launcher.js";
import { tempDir } from "./helpers/tmp.js";

const help = execFileSync(REAL_QEMU, ["-help"], { encoding: "utf8" });
const has = (o: string) => new RegExp(`^-${o}\\b`, "m").test(help);
const NOBODY = 65534;
/** The bridge on argv words, as the launcher reads and writes them. */
const bridgeRemoved = (argv: string[], has: ReadonlySet<string>) => {
  const { opts, lines } = bridgeOpts(splitOptions(argv), has);
  return { argv: wordsOf(opts), lines };
};

t.test("the rewrite itself: only what this QEMU lacks, into its replacement", async (t) => {
  const argv = ["-name", "i", "-machine", "pc-i440fx-7.2", "-chroot", "/var/lib/x", "-runas", "gnt", "-no-acpi", "-S"];
  t.same(
    bridgeRemoved(argv, new Set(["chroot", "runas", "no-acpi", "run-with"])),
    { argv, lines: [] },
    "a QEMU with all three: as written",
  );
  const none = bridgeRemoved(argv, new Set(["run-with"]));
  t.same(none.argv, ["-name", "i", "-machine", "pc-i440fx-7.2,acpi=off", "-S", "-run-with", "chroot=/var/lib/x,user=gnt"]);
  t.equal(none.lines.length, 3, "one log line per rewrite");
  t.same(
    bridgeRemoved(["-name", "i", "-runas", "gnt"], new Set(["chroot", "no-acpi"])).argv,
    ["-name", "i", "-run-with", "user=gnt"],
    "-runas alone (QEMU 10.0: -chroot had gone before)",
  );
  t.same(
    bridgeRemoved(["-name", "i", "-no-acpi"], new Set()).argv,
    ["-name", "i", "-machine", "acpi=off"],
    "no -machine: one of its own",
  );
});

t.test(
  `a start with -chroot, -runas and -no-acpi through the launcher (this QEMU ${has("chroot") ? "has" : "lacks"} -chroot, ${has("runas") ? "has" : "lacks"} -runas, ${has("no-acpi") ? "has" : "lacks"} -no-acpi)`,
  async (t) => {
    const dir = tempDir(t);
    chmodSync(dir, 0o755);
    const jail = join(dir, "jail");
    mkdirSync(jail);
    const pidfile = join(dir, "pid");
    const qmp = join(dir, "qmp");
    const argv = [
      "-name",
      "bridge-test",
      "-accel",
      "tcg",
      "-nodefaults",
      "-display",
      "none",
      "-m",
      "64",
      "-S",
      "-machine",
      "pc",
      "-daemonize",
      "-pidfile",
      pidfile,
      "-qmp",
      `unix:${qmp},server=on,wait=off`,
      "-chroot",
      jail,
      "-runas",
      "nobody",
      "-no-acpi",
    ];
    const log = join(dir, "plugin.log");
    const stock = await run(REAL_QEMU, ["-name", "x", "-chroot", jail, "-runas", "nobody", "-no-acpi", "-version"]);
    const stockTakes = has("chroot") && has("runas") && has("no-acpi");
    t.equal(
      stock.code === 0,
      stockTakes,
      stockTakes ? "stock QEMU takes them" : `stock QEMU refuses them: ${stock.stderr.toString().trim()}`,
    );

    const r = await run(LAUNCHER, argv, { ...launcherEnv(dir, { qemu: REAL_QEMU }), GANETI_QEMU_BLOCKDEV_LOG: log });
    t.equal(r.code, 0, `started through the launcher: ${r.stderr}`);
    const pid = Number(readFileSync(pidfile, "utf8"));
    t.teardown(() => {
      try {
        process.kill(pid, "SIGKILL");
      } catch {}
    });
    t.equal(readlinkSync(`/proc/${pid}/root`), jail, "QEMU runs chrooted");
    t.match(readFileSync(`/proc/${pid}/status`, "utf8"), new RegExp(`^Uid:\\s+${NOBODY}\\s`, "m"), "as the user");
    const client = await QmpClient.connect(qmp, { timeoutMs: 5000 });
    t.teardown(() => client.close());
    t.equal(await client.execute("qom-get", { path: "/machine", property: "acpi" }), "off", "with ACPI off");
    const logged = readFileSync(log, "utf8");
    for (const o of ["chroot", "runas", "no-acpi"])
      t.equal(
        logged.includes(`-${o} `),
        !has(o),
        `-${o}: ${has(o) ? "passed on as written" : "rewritten, and the rewrite logged"}`,
      );
  },
);

t.test(
  "a machine type this QEMU lacks: the start refused in one line naming the instance, the type and what to set",
  async (t) => {
    const dir = tempDir(t);
    const types = execFileSync(REAL_QEMU, ["-machine", "help"], { encoding: "utf8" });
    const newest = [...types.matchAll(/^(pc-i440fx-(\d+)\.(\d+))\s/gm)]
      .sort((a, b) => Number(a[2]) - Number(b[2]) || Number(a[3]) - Number(b[3]))
      .at(-1)?.[1];
    const argv = [
      "-name",
      "old-vm",
      "-accel",
      "tcg",
      "-nodefaults",
      "-display",
      "none",
      "-S",
      "-machine",
      "pc-i440fx-0.9,accel=kvm",
    ];
    const stock = await run(REAL_QEMU, argv);
    t.not(stock.code, 0, `stock QEMU fails in its own words: ${stock.stderr.toString().trim()}`);
    const r = await run(LAUNCHER, argv, launcherEnv(dir, { qemu: REAL_QEMU }));
    t.equal(r.code, 1);
    t.equal(
      r.stderr.toString(),
      `qemu-launcher: error [MACHINE_TYPE_MISSING]: instance old-vm: this node's QEMU (${REAL_QEMU}) has no machine type pc-i440fx-0.9, so the instance can neither start nor migrate here: gnt-instance modify -H machine_version=${newest} old-vm, then start it (the guest sees the newer board from then on)\n`,
      "one line",
    );
    const ok = await run(
      LAUNCHER,
      [...argv.slice(0, -1), `${newest},accel=tcg`, "-version"],
      launcherEnv(dir, { qemu: REAL_QEMU }),
    );
    t.equal(ok.code, 0, `a type it has starts: ${ok.stderr}`);
  },
);

t.test(
  "a gluster disk where this node's QEMU has no gluster driver: refused in one line, from either Ganeti's argv",
  async (t) => {
    const dir = tempDir(t);
    const modules = join(dir, "modules");
    mkdirSync(modules);
    writeFileSync(join(modules, "block-curl.so"), "");
    const uri = "gluster://127.0.0.1/vol0/disk0.img";
    const ganeti30 = [
      "-name",
      "gl-vm",
      "-S",
      "-device",
      "virtio-blk-pci,id=disk-0123abcd-0000-4000,drive=disk-0123abcd-0000-4000,bus=pci.0,addr=0xa",
      "-drive",
      `file=${uri},format=raw,if=none,cache=none,id=disk-0123abcd-0000-4000`,
    ];
    // Ganeti 3.1 writes the same disk as -blockdev key=value, the protocol node as file.*.
    const ganeti31 = [
      "-name",
      "gl-vm",
      "-S",
      "-blockdev",
      "driver=raw,node-name=disk-0123abcd-0000-4000,file.driver=gluster,file.volume=vol0,file.path=disk0.img,file.server.0.type=inet,file.server.0.host=127.0.0.1,file.server.0.port=24007",
    ];
    // /bin/true stands for QEMU: what is tested is whether the launcher lets the start through.
    const env = (moduleDir?: string) => ({
      ...launcherEnv(dir, { qemu: "/bin/true" }),
      ...(moduleDir ? { QEMU_MODULE_DIR: moduleDir } : {}),
    });
    for (const [who, argv] of [
      ["Ganeti 3.0's -drive", ganeti30],
      ["Ganeti 3.1's -blockdev", ganeti31],
    ] as const) {
      const r = await run(LAUNCHER, argv, env(modules));
      t.equal(r.code, 1, `${who}: refused`);
      t.equal(
        r.stderr.toString(),
        `qemu-launcher: error [QEMU_MODULE_MISSING]: instance gl-vm: disk-0123abcd-0000-4000 needs QEMU's gluster driver, and this node's QEMU has no block-gluster.so in ${modules}: a QEMU without it (Debian's 11.1 has none) reaches GlusterFS disks only through their FUSE mount: set access=kernelspace for them (gnt-cluster modify -D gluster:access=kernelspace)\n`,
        `${who}: one line naming the instance, the disk, the driver and what to do`,
      );
    }
    writeFileSync(join(modules, "block-gluster.so"), "");
    t.equal((await run(LAUNCHER, ganeti30, env(modules))).code, 0, "with the module there, the start goes on to QEMU");
    // This node's own QEMU, asked where QEMU itself looks.
    const real = ["/usr/lib/x86_64-linux-gnu/qemu", "/usr/lib64/qemu", "/usr/lib/qemu"].find((d) => existsSync(d));
    const has = real !== undefined && existsSync(join(real, "block-gluster.so"));
    const r = await run(LAUNCHER, ganeti30, env());
    t.equal(
      r.code,
      has ? 0 : 1,
      `this QEMU ${has ? "has" : "has no"} gluster driver: ${r.stderr.toString().trim() || "started"}`,
    );
  },
);

t.test(
  `Ganeti 3.0's -soundhw (this QEMU ${has("soundhw") ? "has" : "lacks"} it): one sound card, as Ganeti 3.1 writes it`,
  async (t) => {
    t.same(
      bridgeRemoved(["-name", "i", "-soundhw", "ac97", "-S"], new Set(["soundhw"])).argv,
      ["-name", "i", "-soundhw", "ac97", "-S"],
      "a QEMU with -soundhw: as written",
    );
    t.same(bridgeRemoved(["-name", "i", "-soundhw", "hda", "-spice", "port=5900"], new Set()).argv, [
    "-name", "i", "-audio", "driver=spice,model=hda,id=soundhw", "-spice", "port=5900",
  ], "with SPICE, the sound goes to it"); // biome-ignore format: argv pairs
    t.same(bridgeRemoved(["-machine", "pc", "-soundhw", "pcspk"], new Set()).argv, [
    "-machine", "pc,pcspk-audiodev=soundhw", "-audiodev", "none,id=soundhw",
  ], "the PC speaker is the board's"); // biome-ignore format: argv pairs
    t.throws(
      () => bridgeRemoved(["-soundhw", "ac97,hda"], new Set()),
      /argument -soundhw ac97,hda: this QEMU has no -soundhw and takes one sound card/,
    );
    t.throws(() => bridgeRemoved(["-soundhw", "all"], new Set()), /-soundhw all/);

    const dir = tempDir(t);
    const cards = { ac97: "8086:2415", hda: "8086:2668", es1370: "1274:5000" } as const;
    for (const [card, pciId] of Object.entries(cards)) {
      const pidfile = join(dir, `${card}.pid`);
      const qmp = join(dir, `${card}.qmp`);
      const argv = [
      "-name", `sound-${card}`, "-accel", "tcg", "-display", "none", "-m", "64", "-S", "-machine", "pc",
      "-daemonize", "-pidfile", pidfile, "-qmp", `unix:${qmp},server=on,wait=off`, "-soundhw", card,
    ]; // biome-ignore format: argv pairs
      if (!has("soundhw")) {
        const stock = await run(REAL_QEMU, argv);
        t.not(stock.code, 0, `stock QEMU refuses -soundhw ${card}: ${stock.stderr.toString().trim()}`);
      }
      const r = await run(LAUNCHER, argv, launcherEnv(dir, { qemu: REAL_QEMU }));
      t.equal(r.code, 0, `-soundhw ${card} through the launcher: ${r.stderr}`);
      const pid = Number(readFileSync(pidfile, "utf8"));
      t.teardown(() => {
        try {
          process.kill(pid, "SIGKILL");
        } catch {}
      });
      const client = await QmpClient.connect(qmp, { timeoutMs: 5000 });
      const pci = await client.execute<string>("human-monitor-command", { "command-line": "info pci" });
      client.close();
      t.match(pci, new RegExp(`Audio controller: PCI device ${pciId}`), `the guest has its ${card} card`);
    }
    if (!has("soundhw")) {
      const argv = ["-name", "x", "-accel", "tcg", "-display", "none", "-soundhw", "ac97,hda", "-S"];
      const refused = await run(LAUNCHER, argv, launcherEnv(dir, { qemu: REAL_QEMU }));
      t.equal(refused.code, 1, "two cards: refused");
      t.equal(refused.stderr.toString().trim().split("\n").length, 1, `in one line: ${refused.stderr}`);
    }
  },
);

t.test("Ganeti's guest-agent -chardev in long form: no short-form boolean warning from QEMU, the socket as before", async (t) => {
  const dir = tempDir(t);
  const argv = (tag: string) => [
    "-name",
    "qga-vm",
    "-accel",
    "tcg",
    "-nodefaults",
    "-display",
    "none",
    "-S",
    "-daemonize",
    "-pidfile",
    join(dir, `${tag}.pid`),
    "-chardev",
    `socket,id=qga0,path=${join(dir, `${tag}.sock`)},server,nowait`,
  ];
  const stop = (tag: string) => {
    try {
      process.kill(Number(readFileSync(join(dir, `${tag}.pid`), "utf8")));
    } catch {
      // not started
    }
  };
  t.teardown(() => ["stock", "via"].forEach(stop));
  const stock = await run(REAL_QEMU, argv("stock"));
  t.equal(stock.code, 0, "stock QEMU starts it");
  const warns = /short-form boolean option 'server' deprecated/.test(stock.stderr.toString());
  t.comment(`this QEMU ${warns ? "warns" : "does not warn"} on Ganeti's short form`);
  const via = await run(LAUNCHER, argv("via"), launcherEnv(dir, { qemu: REAL_QEMU }));
  t.equal(via.code, 0, `started through the launcher: ${via.stderr.toString().trim()}`);
  t.equal(via.stderr.toString(), "", "and QEMU warned of nothing");
  t.ok(existsSync(join(dir, "via.sock")), "the guest agent's socket is there, as under stock QEMU");
  t.same(
    readFileSync(`/proc/${readFileSync(join(dir, "via.pid"), "utf8").trim()}/cmdline`, "utf8")
      .split("\0")
      .at(-2),
    `socket,id=qga0,path=${join(dir, "via.sock")},server=on,wait=off`,
  );
});
