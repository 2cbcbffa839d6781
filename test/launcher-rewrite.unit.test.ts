// The launcher's rewrite of Ganeti's argv and its pass-through record, in-process: every form Ganeti 3.0 writes, where each
// device lands, and every refusal. QEMU itself checks the results in launcher*.qemu.test.ts.
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import t from "tap";
import { blockdevTrees, parseOptString, readKvmArgv, splitOptions } from "../src/ganeti/kvm-argv.js";
import type { RuntimeDocument } from "../src/generated/common.js";
import { validateHotplugInput } from "../src/generated/validators.js";
import { CONFIG_PATH_VARIABLE, configPath, DEFAULT_CONFIG_PATH, readConfig, readConfigFile } from "../src/host/config.js";
import { CACHE_DIR_VARIABLE, PASS_THROUGH_FILE, rememberPassThrough } from "../src/launcher/pass-through.js";
import { choosesAccelerator, nameTriesKvm, stockName, tcgWarning } from "../src/launcher/qemu-name.js";
import { longFormBooleans } from "../src/launcher/removed-options.js";
import { rewriteArgv } from "../src/launcher/rewrite.js";
import { ROOT } from "./helpers/hook.js";
import { tempDir } from "./helpers/tmp.js";

const files = { pathKind: (p: string) => (p.startsWith("/dev/") ? ("block" as const) : ("file" as const)) };
const rewrite = (argv: string[]) => rewriteArgv(readKvmArgv(argv), files);
/** The option values of one kind in a rewritten argv. */
const values = (argv: string[], name: string) =>
  splitOptions(argv)
    .filter((o) => o.name === name)
    .map((o) => o.value as string);
const nodes = (argv: string[]) => values(argv, "blockdev").map((v) => JSON.parse(v) as Record<string, unknown>);

const disk = (i: number, extra = "") => [
  "-device",
  `virtio-blk-pci,id=disk${i}x,bus=pci.0,addr=0x${(12 + i).toString(16)},drive=disk${i}x`,
  "-drive",
  `file=/links/i:${i},format=raw,if=none,aio=threads,cache=writethrough,discard=unmap,id=disk${i}x,auto-read-only=off${extra}`,
];

t.test("QEMU's option syntax", async (t) => {
  t.same(parseOptString("virtio-blk-pci,id=a,,b,drive=x", "driver"), [
    ["driver", "virtio-blk-pci"],
    ["id", "a,b"],
    ["drive", "x"],
  ]);
  t.same(parseOptString("file=/a,,b=c,format=raw"), [
    ["file", "/a,b=c"],
    ["format", "raw"],
  ]);
  t.same(
    splitOptions(["-name", "x", "-S", "--daemonize", "-append", "-drive x", "-m"]).map((o) => [o.name, o.value]),
    [
      ["name", "x"],
      ["S", undefined],
      ["daemonize", undefined],
      ["append", "-drive x"],
      ["m", undefined],
    ],
    "flags, values that look like options, a last option without its value",
  );
});

t.test("disks: -drive if=none becomes a node of the same name; the device keeps Ganeti's ids and slots", async (t) => {
  const out = rewrite(["-name", "i", "-boot", "c", ...disk(0), ...disk(1), "-S"]);
  t.notOk(out.includes("-drive"), "no -drive left");
  t.notOk(out.includes("-boot"), "-boot c replaced");
  t.same(values(out, "device"), [
    "virtio-blk-pci,id=disk0x,bus=pci.0,addr=0xc,drive=disk0x,write-cache=off,bootindex=1",
    "virtio-blk-pci,id=disk1x,bus=pci.0,addr=0xd,drive=disk1x,write-cache=off",
  ]);
  const [n0] = nodes(out);
  t.match(n0, {
    driver: "raw",
    "node-name": "disk0x",
    "read-only": false,
    discard: "unmap",
    cache: { direct: false, "no-flush": false },
    file: { driver: "file", filename: "/links/i:0", "node-name": "disk0x-file" },
  });
  t.same(out.slice(-1), ["-S"], "everything else stays in place");
});

t.test("cache, aio and discard as QEMU reads them from -drive", async (t) => {
  const cases: [string, Record<string, unknown>, string | undefined][] = [
    ["cache=none,aio=native", { cache: { direct: true, "no-flush": false }, file: { aio: "native" } }, "write-cache=on"],
    ["cache=unsafe", { cache: { direct: false, "no-flush": true } }, "write-cache=on"],
    ["cache=directsync,aio=io_uring", { cache: { direct: true }, file: { aio: "io_uring" } }, "write-cache=off"],
    ["discard=on", { discard: "unmap" }, undefined],
    ["discard=off", { discard: "ignore" }, undefined],
  ];
  for (const [opts, node, wc] of cases) {
    const out = rewrite([
      "-name",
      "i",
      "-device",
      "scsi-hd,id=d,drive=d",
      "-drive",
      `file=/dev/vg/lv,format=raw,if=none,id=d,${opts}`,
    ]);
    t.match(nodes(out)[0], { ...node }, opts);
    t.match(nodes(out)[0], { file: { driver: "host_device" } }, `${opts}: a block device`);
    if (wc) t.match(values(out, "device")[0], wc, `${opts}: ${wc}`);
  }
  const sg = rewrite(["-name", "i", "-device", "scsi-generic,id=d,drive=d", "-drive", "file=/dev/sg0,format=raw,if=none,id=d"]);
  t.notMatch(values(sg, "device")[0], /write-cache/, "pass-through devices have no write cache to set");
});

t.test("legacy if= drives: placed where QEMU places them", async (t) => {
  const cd = (iface: string, file = "/iso/a.iso") => ["-drive", `file=${file},media=cdrom,format=raw,if=${iface}`];
  const ide = rewrite(["-name", "i", ...cd("ide"), ...cd("ide", "/iso/b.iso"), "-drive", "file=/links/i:0,format=raw,if=ide"]);
  t.same(values(ide, "device"), [
    "ide-cd,bus=ide.0,unit=0,drive=cdrom1,id=cdrom1",
    "ide-cd,bus=ide.0,unit=1,drive=cdrom2,id=cdrom2",
    "ide-hd,bus=ide.1,unit=0,drive=disk0,id=disk0,write-cache=on",
  ]);
  t.same(
    nodes(ide).map((n) => [n["node-name"], n["read-only"]]),
    [
      ["cdrom1", true],
      ["cdrom2", true],
      ["disk0", false],
    ],
  );
  const q35 = rewrite(["-name", "i", "-machine", "pc-q35-7.2,accel=kvm", ...cd("ide"), ...cd("ide", "/iso/b.iso")]);
  t.same(values(q35, "device"), [
    "ide-cd,bus=ide.0,unit=0,drive=cdrom1,id=cdrom1",
    "ide-cd,bus=ide.1,unit=0,drive=cdrom2,id=cdrom2",
    "ide-cd,bus=ide.2,unit=0",
  ]);
  t.same(
    values(rewrite(["-name", "i", "-M", "type=q35", ...cd("ide")]), "device").at(-1),
    "ide-cd,bus=ide.2,unit=0",
    "-M type=q35",
  );
  const scsi = rewrite(["-name", "i", "-device", "lsi,id=scsi", ...cd("scsi")]);
  t.same(values(scsi, "device"), [
    "lsi,id=scsi",
    "scsi-cd,bus=scsi.0,scsi-id=0,drive=cdrom1,id=cdrom1",
    "ide-cd,bus=ide.1,unit=0",
  ]);
  const http = rewrite(["-name", "i", "-drive", "file=https://example.org/a.iso,media=cdrom,if=ide"]);
  t.match(nodes(http)[0], { file: { driver: "https", url: "https://example.org/a.iso" } }, "an HTTPS CD-ROM");
});

t.test("virtio CD-ROMs come after the last -device, where QEMU realises the legacy one", async (t) => {
  const out = rewrite([
    "-name",
    "i",
    "-drive",
    "file=/iso/a.iso,media=cdrom,format=raw,if=virtio",
    "-device",
    "virtio-balloon",
    ...disk(0),
    "-S",
  ]);
  const words = out.join(" ");
  t.ok(
    words.indexOf("virtio-blk-pci,drive=cdrom1,id=cdrom1") > words.indexOf("virtio-blk-pci,id=disk0x"),
    "after the disks' devices",
  );
  t.ok(words.indexOf("virtio-blk-pci,drive=cdrom1,id=cdrom1") < words.indexOf("-S"), "right after the last one");
});

t.test("QEMU's default CD-ROM is kept exactly where the legacy command line had it", async (t) => {
  const cd = ["-drive", "file=/iso/a.iso,media=cdrom,format=raw,if=ide"];
  const defaults = (argv: string[]) => values(rewrite(["-name", "i", ...argv]), "device").filter((d) => !d.includes("drive="));
  t.same(defaults(cd), ["ide-cd,bus=ide.1,unit=0"], "one IDE CD-ROM: the default stays at ide.1");
  t.same(defaults([...cd, "-nodefaults"]), [], "-nodefaults: none");
  t.same(defaults([...cd, ...cd, ...cd]), [], "IDE index 2 taken: none");
  t.same(
    defaults([...cd, "-device", "scsi-hd,id=d,drive=d", "-drive", "file=/l,format=raw,if=none,id=d"]),
    [],
    "a scsi-hd had suppressed it",
  );
  t.same(
    defaults(["-drive", "file=/iso/a.iso,media=cdrom,format=raw,if=virtio"]),
    [],
    "nothing explicit suppresses it: QEMU makes it",
  );
});

t.test("floppies and boot orders", async (t) => {
  const fd = ["-drive", "file=/img/f.img,format=raw,media=disk,if=floppy"];
  const pc = rewrite(["-name", "i", "-boot", "a", ...fd]);
  t.same(values(pc, "device"), ["floppy,unit=0,drive=floppy1,id=floppy1"], "a floppy has no write-cache property");
  t.same(values(pc, "global"), ["isa-fdc.bootindexA=1"], "-boot a: the floppy controller's bootindexA");
  const q35 = rewrite(["-name", "i", "-machine", "q35", ...fd]);
  t.same(
    values(q35, "device").slice(0, 2),
    ["isa-fdc,id=fdc0", "floppy,unit=0,drive=floppy1,id=floppy1"],
    "q35: a controller first",
  );
  t.same(values(rewrite(["-name", "i", "-boot", "n", ...disk(0)]), "boot"), ["n"], "-boot n stays");
  t.match(
    values(
      rewrite(["-name", "i", "-boot", "d", ...disk(0), "-drive", "file=/iso/a.iso,media=cdrom,format=raw,if=ide"]),
      "device",
    ),
    ["virtio-blk-pci,id=disk0x,bus=pci.0,addr=0xc,drive=disk0x,write-cache=off", /bootindex=1/],
    "-boot d: the first CD-ROM",
  );
});

t.test("userspace storage URIs from Ganeti's _GetDriveURI", async (t) => {
  const out = rewrite([
    "-name",
    "i",
    "-device",
    "virtio-blk-pci,id=d,drive=d",
    "-drive",
    "file=rbd:pool/img:id=admin,format=raw,if=none,id=d",
  ]);
  t.match(nodes(out)[0], { file: { driver: "rbd", pool: "pool", image: "img", user: "admin" } });
});

t.test("refusals name the argument", async (t) => {
  const cases: [string[], RegExp][] = [
    [["disk.img"], /argument "disk.img": a bare disk image/],
    [["-hda", "/x"], /-hda is not supported/],
    [["-cdrom", "/x.iso"], /-cdrom is not supported/],
    [["-drive", "format=raw,if=none,id=d"], /without file=/],
    [["-drive", "file=/x,format=vmdk,if=none,id=d"], /format=vmdk/],
    [["-drive", "file=/x,if=sd"], /if=sd is not supported/],
    [["-drive", "file=/x,media=tape"], /media=tape/],
    [["-drive", "file=/x,if=none,id=d,cache=fast"], /cache=fast/],
    [["-drive", "file=/x,if=none,id=d,aio=posix"], /aio=posix/],
    [["-drive", "file=/x,if=none,id=d,discard=maybe"], /discard=maybe/],
    [["-drive", "file=/x,if=none,id=d,readonly=on"], /'readonly'/],
    [["-drive", "file=/x,if=none"], /if=none without id=/],
    [["-drive", "file=/x,if=none,id=d", "-drive", "file=/y,if=none,id=d"], /a second drive with id d/],
    [["-drive", "file=/x,if=none,id=d,aio=native,cache=writeback"], /aio=native needs cache=none or directsync/],
    [["-drive", "file=/x,if=none,id=d", "-device", '{"driver":"virtio-blk-pci","drive":"d"}'], /JSON -device/],
    [["-drive", "file=/x,if=none,id=d", "-device", "virtio-blk-pci,drive=nowhere"], /drive=nowhere names no -drive/],
    [["-drive", "file=/x,media=cdrom", "-boot", "a"], /no floppy to boot from/],
    [["-drive", "file=/x,media=cdrom", "-boot", "c"], /-boot c: names no drive/],
    [
      [
        "-drive",
        "file=/x,if=ide",
        "-drive",
        "file=/x,if=ide",
        "-drive",
        "file=/x,if=ide",
        "-drive",
        "file=/x,if=ide",
        "-drive",
        "file=/x,if=ide",
      ],
      /IDE drive 5 does not fit/,
    ],
    [["-drive", "file=/x,if=none,id=bad name"], /not a valid QEMU node name/],
  ];
  for (const [argv, re] of cases)
    t.throws(
      () => rewrite(["-name", "i", ...argv]),
      { code: re.source.includes("node name") ? "BAD_NODE_NAME" : "UNSUPPORTED_ARGV", message: re },
      argv.join(" "),
    );
});

t.test("the pass-through record the sh front reads", async (t) => {
  const dir = tempDir(t);
  const env = { [CACHE_DIR_VARIABLE]: dir };
  const config = { path: "/etc/x/config.json", text: '{"qemu": "/usr/bin/kvm.distrib"}\n' };
  rememberPassThrough("/usr/bin/kvm", `${dir}/qemu/x/kvm`, config, env);
  t.equal(
    readFileSync(join(dir, PASS_THROUGH_FILE), "utf8"),
    `/usr/bin/kvm\n${dir}/qemu/x/kvm\npresent /etc/x/config.json\n{"qemu": "/usr/bin/kvm.distrib"}\n`,
    "the path called, the path QEMU is exec'd by, then the config as checked",
  );
  rememberPassThrough("/opt/p/qemu-launcher", "/usr/bin/kvm", { path: "/etc/x/config.json", text: undefined }, env);
  t.equal(
    readFileSync(join(dir, PASS_THROUGH_FILE), "utf8"),
    "/opt/p/qemu-launcher\n/usr/bin/kvm\nabsent /etc/x/config.json\n",
    "or its absence",
  );
  rememberPassThrough("/usr/bin/kvm\nx", "/usr/bin/kvm", config, env);
  t.match(readFileSync(join(dir, PASS_THROUGH_FILE), "utf8"), /^\/opt\/p\//, "a path with a newline is never recorded");
  rememberPassThrough(
    "/usr/bin/kvm",
    "/usr/bin/kvm",
    { path: "/c", text: undefined },
    { [CACHE_DIR_VARIABLE]: "/dev/null/cache" },
  );
  t.pass("an unwritable cache directory only costs time");
  t.equal(readKvmArgv(["-S", "-name", "x"]).instance, "x", "starts are told by -name");
  t.equal(readKvmArgv(["--version"]).instance, undefined, "probes have none");
});

t.test("the operator's config file", async (t) => {
  const dir = tempDir(t);
  const file = join(dir, "config.json");
  t.same(readConfigFile(file), { config: {}, text: undefined }, "no file: every default");
  writeFileSync(file, '{"qemu": "/usr/bin/kvm.distrib", "timeouts": {"unplug": 5}}');
  t.same(readConfig(file), { qemu: "/usr/bin/kvm.distrib", timeouts: { unplug: 5 } });
  t.equal(configPath({}), DEFAULT_CONFIG_PATH);
  t.equal(configPath({ [CONFIG_PATH_VARIABLE]: file }), file);
  for (const [text, re] of [
    ['{"qemu": "/usr/bin/kvm", "timeout": {}}', /at \$: unknown field "timeout"/],
    ['{"timeouts": {"qmp": 0}}', /at \$\.timeouts\.qmp: must be a number of seconds above 0/],
    ['{"timeouts": {"lock": 99999}}', /at \$\.timeouts\.lock: must be a number of seconds/],
    ["[1]", /at \$: must be The operator's settings/],
    ["qemu=/usr/bin/kvm", /not JSON/],
  ] as const) {
    writeFileSync(file, text);
    t.throws(() => readConfig(file), { code: "INVALID_CONFIG", exitCode: 2, message: re }, text);
  }
  t.throws(() => readConfig(dir), { code: "CONFIG_UNREADABLE", exitCode: 1 }, "a directory: unreadable");
});

t.test("the name QEMU runs under: stock Ganeti's, and when KVM is tried", async (t) => {
  t.equal(stockName("/usr/bin/kvm", "/usr/bin/kvm.distrib"), "/usr/bin/kvm", "diverted: the path Ganeti called");
  t.equal(stockName("/usr/bin/kvm", "/usr/bin/qemu-system-x86_64.distrib"), "/usr/bin/kvm", "a link to a diverted QEMU");
  t.equal(stockName("/opt/p/hooks/qemu-launcher", "/usr/bin/kvm"), "/usr/bin/kvm", "kvm_path: the config's QEMU");
  t.equal(stockName("/opt/p/hooks/qemu-launcher", "/usr/bin/kvm.distrib"), "/usr/bin/kvm", "named as before its diversion");
  t.ok(nameTriesKvm("/usr/bin/kvm") && !nameTriesKvm("/usr/bin/qemu-system-x86_64") && !nameTriesKvm("/usr/bin/kvm.distrib"));
  for (const argv of [["-enable-kvm"], ["-accel", "tcg"], ["-machine", "pc,accel=kvm"], ["-M", "type=q35,accel=tcg"]])
    t.ok(choosesAccelerator(splitOptions(argv)), `${argv.join(" ")} chooses`);
  for (const argv of [["-machine", "pc-i440fx-7.2"], ["-name", "accel=kvm"], []])
    t.notOk(choosesAccelerator(splitOptions(argv)), `${argv.join(" ") || "nothing"} does not`);
  t.match(tcgWarning("/usr/bin/qemu-system-x86_64", [], true), /will use TCG/);
  t.equal(tcgWarning("/usr/bin/qemu-system-x86_64", [], false), undefined, "no /dev/kvm: nothing to warn of");
  t.equal(tcgWarning("/usr/bin/kvm", [], true), undefined);
  t.equal(tcgWarning("/usr/bin/qemu-system-x86_64", splitOptions(["-accel", "tcg"]), true), undefined, "TCG chosen on purpose");
});

t.test("Ganeti 3.1's own -blockdev command line: passed on unchanged; a -drive added to it is rewritten", async (t) => {
  // As Ganeti 3.1 writes them (reference: hv_kvm _GenerateKVMBlockDevicesOptions, _CdromOption):
  // -device before its -blockdev, key=value syntax, -boot order=c, an anonymous ide-cd.
  const v31 = [
    "-name",
    "i",
    "-boot",
    "order=c",
    "-blockdev",
    "driver=raw,cache.direct=off,cache.no-flush=on,read-only=on,node-name=cdrom1,file.driver=file,file.filename=/iso/a.iso",
    "-device",
    "ide-cd,drive=cdrom1",
    "-device",
    "virtio-blk-pci,id=disk-077af63e-1010-4f10,bus=pci.0,addr=0xc,drive=disk-077af63e-1010-4f10,write-cache=on",
    "-blockdev",
    "driver=raw,node-name=disk-077af63e-1010-4f10,discard=ignore,cache.direct=off,cache.no-flush=off,file.driver=file,file.filename=/d/i:0,file.aio=threads",
  ];
  t.same(rewrite(v31), v31, "not a word changed");
  const upgraded = v31.map((w) => w.replace("discard=ignore", "discard=default"));
  t.same(rewrite(upgraded), v31, "but a 3.0 runtime's discard=default, which QEMU refuses, is QEMU's default: ignore");
  const floppyBoot = [
    "-name",
    "i",
    "-boot",
    "a",
    "-blockdev",
    "driver=raw,node-name=floppy1,file.driver=file,file.filename=/f",
    "-device",
    "floppy,drive=floppy1",
  ];
  t.same(rewrite(floppyBoot), floppyBoot, "-boot a with 3.1's floppy");
  const mixed = rewrite([...v31, "-drive", "file=/x,if=none,id=extra", "-device", "virtio-blk-pci,id=extra,drive=extra"]);
  t.notOk(mixed.includes("-drive"), "a -drive (kvm_extra) still goes to -blockdev");
  t.ok(mixed.includes("ide-cd,drive=cdrom1") && mixed.includes("order=c"), "3.1's own devices and -boot as written");
  t.equal(mixed.filter((w) => w === "-blockdev").length, 3);
  // A runtime file 3.0 wrote, run by 3.1 (a soft reboot or a migration after the upgrade): 3.0's
  // CD-ROM -drive in kvm_cmd, 3.1's disks appended, and 3.0's discard=default in them.
  const after = rewrite([...upgraded, "-drive", "file=/iso/b.iso,media=cdrom,format=raw,if=virtio"]);
  t.notOk(after.includes("-drive") || after.some((w) => w.includes("discard=default")), "both mended");
});

t.test("recorded from a real Ganeti 3.1.0~rc2: its command line passes on unchanged, its runtime file is read", async (t) => {
  const dir = join(ROOT, "test/fixtures/ganeti-3.1/extra");
  const argv = readFileSync(join(dir, "kvm-cmdline.instance-start.txt"), "utf8").trim().split("\n").slice(1);
  t.ok(argv.includes("-blockdev") && !argv.includes("-drive"), "3.1 wrote -blockdev itself");
  t.same(rewrite(argv), argv, "not a word changed");
  // The schema the hooks read runtime files with (ganeti/runtime.ts: the hot-plug input's definition).
  const doc = JSON.parse(readFileSync(join(dir, "kvm-runtime.instance-start.json"), "utf8")) as RuntimeDocument;
  t.ok(
    doc[0].some((w) => typeof w === "number"),
    "kvm_cmd holds a non-string item (-m 128)",
  );
  t.ok(validateHotplugInput({ runtime: doc }), "3.1's runtime file, hvinfo and all, is accepted");
});

t.test("-chardev's short-form booleans in long form; everything else as written", async (t) => {
  const opts = splitOptions([
    "-chardev",
    "socket,id=qga0,path=/run/x,,y.sock,server,nowait,nodelay",
    "-monitor",
    "unix:/run/m,server,nowait",
    "-chardev",
    "socket,id=c1,path=/run/c,server=on,wait=off",
  ]);
  const { opts: out, lines } = longFormBooleans(opts);
  t.same(
    out.map((o) => o.value),
    [
      "socket,id=qga0,path=/run/x,,y.sock,server=on,wait=off,delay=off",
      "unix:/run/m,server,nowait",
      "socket,id=c1,path=/run/c,server=on,wait=off",
    ],
  );
  t.equal(out[1], opts[1], "-monitor's legacy syntax is left alone (QEMU does not warn there)");
  t.equal(out[2], opts[2], "already long: the same option");
  t.same(lines, [
    "-chardev socket,id=qga0,path=/run/x,,y.sock,server,nowait,nodelay (short-form booleans, deprecated since QEMU 6.0) as socket,id=qga0,path=/run/x,,y.sock,server=on,wait=off,delay=off",
  ]);
});

t.test("the -blockdev trees of a command line and their drivers, JSON or key=value", async (t) => {
  t.same(
    blockdevTrees([
      "-blockdev",
      '{"driver":"raw","node-name":"disk0","file":{"driver":"gluster","volume":"v"}}',
      "--blockdev",
      "driver=raw,node-name=disk1,file.driver=rbd,file.pool=p",
      "-device",
      "virtio-blk-pci,drive=disk0",
      "-blockdev",
      "{not json",
    ]),
    [
      { name: "disk0", drivers: ["raw", "gluster"] },
      { name: "disk1", drivers: ["raw", "rbd"] },
    ],
    "a value that is not JSON after all is QEMU's to refuse",
  );
});
