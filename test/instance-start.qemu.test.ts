// instance-start against a real QEMU 7.2: every case in test/fixtures/start-cases.json is run
// through the hook in env-only mode, QEMU is started with the result, and what QEMU reports over
// QMP (and /proc) is compared with the case's expectations. All paths live in a directory whose
// name has commas, '=', quotes, spaces and non-ASCII, so every case also proves safe quoting.
import { mkdirSync, readFileSync, statSync, symlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import t from "tap";
import { diskDeviceId } from "../src/blockdev/ids.js";
import { wiring } from "./helpers/argv-wiring.js";
import { type EnvVars, loadEnv, ROOT, runHook } from "./helpers/hook.js";
import { serveFile } from "./helpers/http.js";
import { blockOf, namedNodes, qemuIo, qomGet } from "./helpers/inspect.js";
import { eventLoopUsesIoUring, hasIoUring, hasLinuxAio, O_DIRECT, openFiles, qemuRefuses, startVm } from "./helpers/qemu.js";
import { tempDir } from "./helpers/tmp.js";

interface Case {
  name: string;
  hv: Record<string, string>;
  disks?: { dev_type?: string; mode?: string }[];
  qemuVersion?: string;
  machine?: string;
  expect: {
    devices?: Record<string, Record<string, string | number>>;
    nodes?: Record<
      string,
      { drv?: string; ro?: boolean; direct?: boolean; "no-flush"?: boolean; writeback?: boolean; file?: string }
    >;
    aio?: "threads" | "native" | "io_uring";
    discard?: "unmap" | "ignore";
    fdcBootindexA?: number;
    argvIncludes?: string[];
    stderr?: string;
    refused?: string;
  };
}

const cases = JSON.parse(readFileSync(join(ROOT, "test/fixtures/start-cases.json"), "utf8")) as Case[];
const INSTANCE = "inst1.ganeti.test";
export const HOSTILE = `disks, with=odd "quotes" 'and' spaces \u00fc\u65e5`;
const uuidOf = (n: number) => `d000000${n}-0000-4000-8000-00000000000${n}`;
const alias = (name: string) => (/^disk[0-9]$/.test(name) ? diskDeviceId(uuidOf(Number(name.slice(4)))) : name);

/** The recorded instance-start environment with this case's disks and hvparams. */
function caseEnv(c: Case, media: Record<string, string>): EnvVars {
  const env = Object.fromEntries(
    Object.entries(loadEnv("ganeti-3.0.2/instance-start-pre.env")).filter(([k]) => !k.startsWith("GANETI_INSTANCE_DISK")),
  );
  // Ganeti's KVM defaults, so that each case names what it changes.
  Object.assign(env, {
    GANETI_INSTANCE_HV_cdrom_image_path: "",
    GANETI_INSTANCE_HV_disk_cache: "default",
    GANETI_INSTANCE_HV_disk_aio: "threads",
    GANETI_INSTANCE_HV_disk_discard: "ignore",
  });
  const disks = c.disks ?? [{}, {}];
  env["GANETI_INSTANCE_DISK_COUNT"] = String(disks.length);
  disks.forEach((d, i) => {
    env[`GANETI_INSTANCE_DISK${i}_UUID`] = uuidOf(i);
    env[`GANETI_INSTANCE_DISK${i}_DEV_TYPE`] = d.dev_type ?? "file";
    env[`GANETI_INSTANCE_DISK${i}_MODE`] = d.mode ?? "rw";
    env[`GANETI_INSTANCE_DISK${i}_SIZE`] = "8";
  });
  for (const [k, v] of Object.entries(c.hv))
    env[`GANETI_INSTANCE_HV_${k}`] = v.replace(/^\$([A-Z]+)$/, (_m, key: string) => media[key] ?? "");
  return env;
}

const allocatedBytes = (file: string) => statSync(file).blocks * 512;

for (const c of cases) {
  t.test(c.name, async (t) => {
    const base = tempDir(t);
    const dir = join(base, HOSTILE);
    mkdirSync(dir);
    const disks = c.disks ?? [{}, {}];
    disks.forEach((_d, i) => {
      writeFileSync(join(dir, `image ${i}.raw`), Buffer.alloc(0));
      writeFileSync(join(dir, `image ${i}.raw`), Buffer.alloc(8 << 20));
      symlinkSync(join(dir, `image ${i}.raw`), join(dir, `${INSTANCE}:${i}`));
    });
    const iso = join(dir, "cd, one.iso");
    writeFileSync(iso, Buffer.alloc(1 << 20, 0x43));
    const floppy = join(dir, "floppy=1.img");
    writeFileSync(floppy, Buffer.alloc(1474560));
    const kernel = join(dir, "vmlinuz");
    writeFileSync(kernel, "not really a kernel");
    const media: Record<string, string> = { ISO: iso, FLOPPY: floppy, KERNEL: kernel };
    if (JSON.stringify(c.hv).includes("$URL")) media["URL"] = await serveFile(t, iso);

    const res = await runHook("instance-start", caseEnv(c, media), {
      args: ["--disk-dir", dir, "--cache-dir", join(dir, "cache"), "--qemu-version", c.qemuVersion ?? "7.2.22"],
    });
    t.equal(res.code, 0, `hook exits 0: ${res.stderr}`);
    const argv = res.json.argv as string[];
    t.same(wiring(argv), { dangling: [], unused: [] }, "each device's drive is a -blockdev node, each node is used");
    if (c.expect.stderr) t.match(res.stderr, c.expect.stderr, "warning on stderr");
    for (const s of c.expect.argvIncludes ?? []) t.ok(argv.includes(s), `argv has ${s}`);

    if (c.expect.refused) {
      const err = await qemuRefuses(t, base, argv);
      t.match(err, c.expect.refused, "QEMU got as far as the host device");
      t.notMatch(err, /Property .* not found|Parameter .* unexpected/, "QEMU knows every property");
      return;
    }
    const vm = await startVm(t, base, INSTANCE, argv, { machine: c.machine ?? "pc" });

    for (const [name, want] of Object.entries(c.expect.devices ?? {})) {
      const id = alias(name);
      for (const [prop, value] of Object.entries(want)) {
        const got = await qomGet(vm.qmp, id, prop);
        // qom reports a PCI address as devfn (slot << 3)
        const norm = prop === "addr" ? `0x${(Number(got) >> 3).toString(16)}` : got;
        t.equal(norm, value, `${name}.${prop}`);
      }
    }
    const nodes = await namedNodes(vm.qmp);
    for (const [name, want] of Object.entries(c.expect.nodes ?? {})) {
      const id = alias(name);
      const node = nodes.find((n) => n["node-name"] === id);
      const child = nodes.find((n) => n["node-name"] === `${id}-file`);
      t.ok(node && child, `${name}: format node and its ${id}-file child exist`);
      if (!node || !child) continue;
      if (want.drv !== undefined) t.equal(node.drv, want.drv, `${name} drv`);
      if (want.ro !== undefined) t.equal(node.ro, want.ro, `${name} read-only`);
      if (want.file !== undefined) t.equal(child.drv, want.file, `${name} protocol driver`);
      if (want.direct !== undefined) {
        t.equal(node.cache.direct, want.direct, `${name} cache.direct (format node)`);
        t.equal(child.cache.direct, want.direct, `${name} cache.direct (protocol node)`);
      }
      if (want["no-flush"] !== undefined) t.equal(node.cache["no-flush"], want["no-flush"], `${name} cache.no-flush`);
      if (want.writeback !== undefined) {
        const blk = await blockOf(vm.qmp, id);
        t.equal(blk?.device, "", `${name}: a -blockdev disk (no legacy drive name)`);
        t.equal(blk?.inserted?.cache.writeback, want.writeback, `${name} writeback as the guest sees it`);
      }
    }
    if (c.expect.aio) {
      const files = openFiles(vm.pid).filter((f) => f.target.includes("image "));
      t.ok(files.length >= disks.length, "QEMU has the images open");
      // QEMU 10 creates its AIO context at the first I/O (7.2 at open): one read first.
      await qemuIo(vm.qmp, alias("disk0"), "read 0 4k");
      t.equal(hasLinuxAio(vm.pid), c.expect.aio === "native", "Linux AIO ring iff aio=native");
      if (await eventLoopUsesIoUring(t, base)) {
        // QEMU's own rings say nothing of the disks' aio: what the hook gave QEMU is checked.
        const aio = (JSON.parse(argv[argv.indexOf("-blockdev") + 1] as string) as { file: { aio?: string } }).file.aio;
        t.equal(
          aio ?? "threads",
          c.expect.aio,
          "disk0's protocol node has that aio (this QEMU's event loop has rings of its own)",
        );
      } else t.equal(hasIoUring(vm.pid), c.expect.aio === "io_uring", "io_uring ring iff aio=io_uring");
      const direct = c.expect.nodes?.["disk0"]?.direct;
      if (direct !== undefined) {
        const img0 = files.find((f) => f.target.endsWith("image 0.raw"));
        t.equal(Boolean((img0?.flags ?? 0) & O_DIRECT), direct, "O_DIRECT on the image fd");
      }
    }
    if (c.expect.discard) {
      const img = join(dir, "image 0.raw");
      await qemuIo(vm.qmp, alias("disk0"), "write -P 0x55 0 1M");
      await qemuIo(vm.qmp, alias("disk0"), "flush");
      const before = allocatedBytes(img);
      await qemuIo(vm.qmp, alias("disk0"), "discard 0 1M");
      const after = allocatedBytes(img);
      if (c.expect.discard === "unmap") t.ok(after < before, `discard punched a hole (${before} -> ${after} bytes)`);
      else t.equal(after, before, "discard was ignored");
    }
    if (c.expect.fdcBootindexA !== undefined) {
      const children = await vm.qmp.execute<{ name: string; type: string }[]>("qom-list", { path: "/machine/unattached" });
      const fdc = children.find((ch) => ch.type === "child<isa-fdc>");
      t.ok(fdc, "the board has its floppy controller");
      if (fdc)
        t.equal(await qomGet(vm.qmp, `/machine/unattached/${fdc.name}`, "bootindexA"), c.expect.fdcBootindexA, "fdc bootindexA");
    }
  });
}

t.test("HTTP CD-ROMs: a server without Range support and a missing curl module are named before QEMU starts", async (t) => {
  const base = tempDir(t);
  const iso = join(base, "cd.iso");
  writeFileSync(iso, Buffer.alloc(1 << 20, 0x43));
  const noRange = await serveFile(t, iso, { ranges: false });
  const env = caseEnv({ name: "url", hv: { cdrom_image_path: "$URL", cdrom_disk_type: "ide" }, expect: {} }, { URL: noRange });
  const args = ["--disk-dir", base, "--cache-dir", join(base, "cache"), "--qemu-version", "7.2.22"];
  const res = await runHook("instance-start", env, { args });
  t.equal(res.code, 1, "refused");
  t.match(
    res.stderr,
    /\[RANGE_UNSUPPORTED\]: the server of http:\/\/127\.0\.0\.1:\d+\/image\.iso ignores Range requests .*nginx/,
    "names the cause and the fix",
  );
  t.equal(res.stdout, "", "no arguments printed");
  // What QEMU itself would have said, for comparison.
  const unchecked = await runHook("instance-start", env, { args: [...args, "--no-url-check"] });
  t.equal(unchecked.code, 0, `--no-url-check skips the check: ${unchecked.stderr}`);
  const qemuErr = await qemuRefuses(t, base, cdromOnly(unchecked.json.argv));
  t.match(qemuErr, /Server does not support 'range'/, "QEMU's own words");

  const modules = join(base, "modules");
  mkdirSync(modules);
  writeFileSync(join(modules, "block-rbd.so"), "");
  const ranged = await serveFile(t, iso);
  const env2 = caseEnv({ name: "url", hv: { cdrom_image_path: "$URL", cdrom_disk_type: "ide" }, expect: {} }, { URL: ranged });
  const res2 = await runHook("instance-start", env2, { args: [...args, "--qemu-module-dir", modules] });
  t.equal(res2.code, 1, "refused");
  t.match(
    res2.stderr,
    /\[QEMU_MODULE_MISSING\]: instance \S+: cdrom1 needs QEMU's http driver, and this node's QEMU has no block-curl\.so in .*modules: install it \(Debian: apt-get install qemu-block-extra\)\n$/,
  );
  const dead = await runHook(
    "instance-start",
    caseEnv({ name: "url", hv: { cdrom_image_path: "http://127.0.0.1:9/none.iso" }, expect: {} }, {}),
    { args },
  );
  t.equal(dead.code, 1);
  t.match(dead.stderr, /\[URL_UNREACHABLE\]: CD-ROM image http:\/\/127\.0\.0\.1:9\/none\.iso is not accessible/);
});

/** The CD-ROM's -blockdev and -device only (the disks' images do not exist in that test). */
function cdromOnly(argv: string[]): string[] {
  const out: string[] = [];
  for (let i = 0; i < argv.length; i += 2)
    if ((argv[i + 1] ?? "").includes("cdrom1")) out.push(argv[i] as string, argv[i + 1] as string);
  return out;
}
