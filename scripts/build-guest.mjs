#!/usr/bin/env node
// @ts-check
// Builds the tiny Linux test guest from Debian packages, without installing anything on the host:
// Debian's kernel (its uncompressed vmlinux boots via PVH in ~5 s under TCG) and an initramfs of
// busybox-static plus the virtio/SCSI modules. The guest reports block-device uevents on its
// console (it reacts to events; polling would burn a host core under TCG).
// Usage: node scripts/build-guest.mjs [OUTDIR]   (default .cache/guest; prints OUTDIR)
import { execFileSync } from "node:child_process";
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { basename, dirname, join, resolve } from "node:path";
import { gzipSync } from "node:zlib";

const root = resolve(dirname(new URL(import.meta.url).pathname), "..");
const out = resolve(process.argv[2] ?? join(root, ".cache/guest"));
// crct10dif_generic and crc64_rocksoft_generic are asked for through the crypto API, not depends=.
// ata_piix and sr_mod: IDE CD-ROMs on pc, for the medium-change tests.
const WANTED = [
  "virtio_pci",
  "virtio_blk",
  "virtio_scsi",
  "sd_mod",
  "crct10dif_generic",
  "crc64_rocksoft_generic",
  "ata_piix",
  "sr_mod",
];
// Bumped whenever what goes into the guest changes: a guest built before is built again.
const GUEST_VERSION = 9;

/** @param {string} cmd @param {string[]} args @param {import("node:child_process").ExecFileSyncOptions} [opts] */
const sh = (cmd, args, opts = {}) =>
  String(execFileSync(cmd, args, { encoding: "utf8", stdio: ["ignore", "pipe", "pipe"], ...opts }));

function kernelPackage() {
  const deps = sh("apt-cache", ["depends", "linux-image-amd64"]);
  return /Depends: (linux-image-[0-9][^\s]*)/.exec(deps)?.[1];
}

/** @param {string} dir @param {string[]} pkgs */
function download(dir, pkgs) {
  try {
    sh("apt-get", ["download", ...pkgs], { cwd: dir });
  } catch {
    sh("apt-get", ["update", "-qq"]);
    sh("apt-get", ["download", ...pkgs], { cwd: dir });
  }
}

/**
 * The newc cpio format, as the kernel unpacks an initramfs.
 * @param {{ name: string; mode: number; data?: Buffer }[]} entries
 */
function cpio(entries) {
  /** @type {Buffer[]} */
  const parts = [];
  let ino = 1;
  /** @param {number} n */
  const hex = (n) => n.toString(16).padStart(8, "0");
  /** @param {number} n */
  const pad4 = (n) => Buffer.alloc((4 - (n % 4)) % 4);
  /** @param {string} name @param {number} mode @param {Buffer} data */
  const add = (name, mode, data) => {
    const nameBuf = Buffer.from(`${name}\0`);
    const header = `070701${hex(ino++)}${hex(mode)}${hex(0)}${hex(0)}${hex(1)}${hex(0)}${hex(data.length)}${hex(0)}${hex(0)}${hex(0)}${hex(0)}${hex(nameBuf.length)}${hex(0)}`;
    parts.push(Buffer.from(header), nameBuf, pad4(110 + nameBuf.length), data, pad4(data.length));
  };
  for (const e of entries) add(e.name, e.mode, e.data ?? Buffer.alloc(0));
  add("TRAILER!!!", 0, Buffer.alloc(0));
  return Buffer.concat(parts);
}

/**
 * A module's dependencies, from the depends= string in its .modinfo section.
 * @param {string} ko
 */
function dependsOf(ko) {
  const m = /depends=([^\0]*)\0/.exec(readFileSync(ko).toString("latin1"));
  return m?.[1] ? m[1].split(",").filter(Boolean) : [];
}

const stamp = join(out, `ready-v${GUEST_VERSION}`);

/**
 * Test files run in parallel, and each asks for the guest: the first builds it, the others wait
 * for that build instead of building over it. The lock is a directory (mkdir is atomic); one left
 * by a build that died is taken over after 10 minutes.
 */
function locked(/** @type {() => void} */ fn) {
  const lock = `${out}.lock`;
  mkdirSync(dirname(out), { recursive: true });
  for (;;) {
    try {
      mkdirSync(lock);
      break;
    } catch (e) {
      if (/** @type {NodeJS.ErrnoException} */ (e).code !== "EEXIST") throw e;
      try {
        if (Date.now() - statSync(lock).mtimeMs > 600_000) rmSync(lock, { recursive: true, force: true });
      } catch {
        // gone meanwhile: try again
      }
      Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 200);
    }
  }
  try {
    fn();
  } finally {
    rmSync(lock, { recursive: true, force: true });
  }
}

if (!existsSync(stamp))
  locked(() => {
    if (existsSync(stamp)) return; // built by another process while this one waited
    rmSync(out, { recursive: true, force: true });
    const work = join(out, "work");
    mkdirSync(join(work, "root"), { recursive: true });
    const kpkg = kernelPackage();
    if (!kpkg) throw new Error("apt-cache knows no linux-image-amd64 dependency (run apt-get update)");
    download(work, [kpkg, "busybox-static"]);
    const debs = readdirSync(work).filter((f) => f.endsWith(".deb"));
    /** @param {string} prefix */
    const deb = (prefix) => {
      const f = debs.find((d) => d.startsWith(prefix));
      if (!f) throw new Error(`apt-get download left no ${prefix} package`);
      return join(work, f);
    };
    const kdeb = deb("linux-image");
    const bdeb = deb("busybox-static");
    sh(
      "sh",
      [
        "-c",
        `dpkg-deb --fsys-tarfile "${kdeb}" | tar -x -C root --wildcards './boot/vmlinuz-*' './lib/modules/*/kernel/drivers/virtio' './lib/modules/*/kernel/drivers/block/virtio_blk.ko' './lib/modules/*/kernel/drivers/scsi/*.ko' './lib/modules/*/kernel/drivers/ata' './lib/modules/*/kernel/drivers/cdrom' './lib/modules/*/kernel/lib' './lib/modules/*/kernel/block' './lib/modules/*/kernel/crypto'`,
      ],
      { cwd: work },
    );
    sh("sh", ["-c", `dpkg-deb --fsys-tarfile "${bdeb}" | tar -x -C root ./bin/busybox`], { cwd: work });

    // vmlinux: the XZ payload inside the bzImage, decompressed.
    const boot = join(work, "root/boot");
    const bz = readFileSync(join(boot, readdirSync(boot)[0] ?? "vmlinuz-missing"));
    const at = bz.indexOf(Buffer.from([0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00]));
    // From a file, not a pipe: xz stops after the first stream, and a pipe still holding the bzImage's
    // tail would fail the write (EPIPE) whenever xz finished first.
    const payload = join(work, "vmlinux.xz");
    writeFileSync(payload, bz.subarray(at));
    const vmlinux = execFileSync("xz", ["-dc", "--single-stream", payload], { maxBuffer: 1 << 30 });
    if (vmlinux.readUInt32BE(0) !== 0x7f454c46) throw new Error("no ELF kernel inside the bzImage");
    writeFileSync(join(out, "vmlinux"), vmlinux);

    // Modules in dependency order, found by name anywhere below lib/modules.
    /** @type {Map<string, string>} */
    const kos = new Map();
    /** @param {string} d */
    const walk = (d) => {
      for (const f of readdirSync(d, { withFileTypes: true })) {
        if (f.isDirectory()) walk(join(d, f.name));
        else if (f.name.endsWith(".ko")) kos.set(f.name.slice(0, -3).replaceAll("-", "_"), join(d, f.name));
      }
    };
    walk(join(work, "root/lib/modules"));
    /** @type {string[]} */
    const order = [];
    /** @param {string} name */
    const visit = (name) => {
      const key = name.replaceAll("-", "_");
      if (order.includes(key)) return;
      const ko = kos.get(key);
      if (!ko) throw new Error(`module ${name} not found`);
      for (const dep of dependsOf(ko)) visit(dep);
      order.push(key);
    };
    for (const m of WANTED) visit(m);

    const init = `#!/bin/busybox sh
/bin/busybox --install -s /bin
mount -t proc proc /proc
mount -t sysfs sys /sys
mount -t devtmpfs dev /dev
for m in ${order.join(" ")}; do insmod /lib/modules/$m.ko; done
# The guest reports through the kernel's log (say), not by writing to the console: the kernel prints
# each log record whole, while its own messages (a hot-plugged PCI function, for one) can land in the
# middle of a line written to the console, which the host then cannot read. No rate limit on them.
echo on >/proc/sys/kernel/printk_devkmsg
# From now on the console prints only the guest's reports (level 1) and the kernel's gravest
# messages: under TCG on a busy host the serial console loses characters in bursts of kernel
# messages (a hot-plugged SCSI disk or PCI function), and a report inside such a burst was lost
# with them (CI, twice).
echo 2 >/proc/sys/kernel/printk
say "BOOT-OK"
# The kernel sends no uevent when a CD-ROM's medium changes (nothing polls the drive here): read the
# first CD-ROM's first bytes once a second, and report the first medium read and every change after.
# One stat a second without a CD-ROM. "data=" means no medium (the open says so) and nothing else.
# Any other failure, such as the unit attention an ATAPI drive reports at the first read after a
# change, prints "error=" and is read again a second later: it changes nothing the loop remembers.
(last="not read"; while sleep 1; do
  [ -b /dev/sr0 ] || continue
  if err=$(head -c 16 /dev/sr0 2>&1 >/tmp/sr0); then
    now=$(tr -cd 'A-Za-z0-9!-' </tmp/sr0)
  else
    case "$err" in
      *"No medium found"*) now= ;;
      *) say "media sr0 error=$(echo "$err" | tr -c 'A-Za-z0-9:/-' _)"; continue ;;
    esac
  fi
  [ "$now" != "$last" ] && say "media sr0 data=$now"
  last=$now
done) &
# I/O rates, for the tests of per-disk I/O limits: every whole disk whose first sector starts with
# IOTEST:<KiB>:<name> is written, then read, <KiB> KiB with direct I/O (past its first MiB), all such disks
# at once; each disk reports its rates in bytes/s per pass. The marker is read with direct I/O too,
# so the host's changes to it are seen: one 512-byte read a second per disk, nothing else without one.
# Only when the kernel's command line says gqb.io: a guest of any other test does no I/O of its own.
cs() { read -r up _ </proc/uptime; echo "\${up%.*}\${up#*.}"; }
rate() { d=$(($2 - $1)); [ "$d" -gt 0 ] || d=1; echo $(($3 * 1024 * 100 / d)); }
# $1 device, $2 what its marker says after IOTEST: (<KiB>:<name the host gave the disk>), $3 pass.
iopass() {
  kib=\${2%%:*}; name=\${2#*:}
  t0=$(cs); dd if=/dev/zero of=/dev/$1 bs=64k count=$((kib / 64)) seek=16 oflag=direct 2>/dev/null || { say "io $1 disk=$name error=write"; return; }
  t1=$(cs); dd if=/dev/$1 of=/dev/null bs=64k count=$((kib / 64)) skip=16 iflag=direct 2>/dev/null || { say "io $1 disk=$name error=read"; return; }
  t2=$(cs); say "io $1 disk=$name pass=$3 wr=$(rate $t0 $t1 $kib) rd=$(rate $t1 $t2 $kib)"
}
grep -qw gqb.io /proc/cmdline && (pass=0; while sleep 1; do
  pass=$((pass + 1))
  for b in /sys/block/vd* /sys/block/sd*; do
    n=\${b##*/}; [ -b /dev/$n ] || continue
    m=$(dd if=/dev/$n bs=512 count=1 iflag=direct 2>/dev/null | head -c 24 | tr -cd 'A-Z0-9:')
    case "$m" in IOTEST:[0-9]*:*) iopass $n \${m#IOTEST:} $pass & ;; esac
  done
  wait
done) &
exec uevent /bin/onevent
`;
    // One console line per whole-disk add/remove (on add, the first 16 bytes the host wrote) and per
    // capacity change (RESIZE).
    const onevent = `#!/bin/sh
[ "$SUBSYSTEM" = block ] && [ "$DEVTYPE" = disk ] || exit 0
data() { head -c 16 /dev/$DEVNAME 2>/dev/null | tr -cd 'A-Za-z0-9!-'; }
case "$ACTION" in
  add) sleep 0.2; say "add $DEVNAME data=$(data)" ;;
  remove) say "remove $DEVNAME" ;;
  change)
    [ "$RESIZE" = 1 ] && say "resize $DEVNAME sectors=$(cat /sys/class/block/$DEVNAME/size)" ;;
esac
`;
    // One report line, as one record of the kernel's log at level 1 (alert), which every console
    // log level prints. One write() is one record.
    const say = `#!/bin/sh
echo "<1>GUEST: $*" >/dev/kmsg
`;
    const entries = [
      ...["bin", "dev", "proc", "sys", "tmp", "lib", "lib/modules"].map((d) => ({ name: d, mode: 0o40755 })),
      { name: "init", mode: 0o100755, data: Buffer.from(init) },
      { name: "bin/onevent", mode: 0o100755, data: Buffer.from(onevent) },
      { name: "bin/say", mode: 0o100755, data: Buffer.from(say) },
      { name: "bin/busybox", mode: 0o100755, data: readFileSync(join(work, "root/bin/busybox")) },
      ...order.map((m) => ({ name: `lib/modules/${m}.ko`, mode: 0o100644, data: readFileSync(kos.get(m) ?? m) })),
    ];
    writeFileSync(join(out, "initrd.gz"), gzipSync(cpio(entries)));
    rmSync(work, { recursive: true, force: true });
    // The kernel package file names the exact kernel (Debian moves it): tests print it.
    writeFileSync(stamp, `${basename(kdeb)}\n`);
  });
process.stdout.write(`${out}\n`);
