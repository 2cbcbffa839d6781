// What the launcher asks of the QEMU behind it, in this process: its machine types (a type it lacks
// refused in one line), its answers cached per binary only where root alone could write, and the
// link that gives QEMU its stock process name, made only in such a directory.
import { chmodSync, lstatSync, mkdirSync, readlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import t from "tap";
import { qemuCaps } from "../src/host/qemu-caps.js";
import { probeQemu, probeQemuVersion } from "../src/host/qemu-version.js";
import { missingMachineType, parseMachineHelp } from "../src/launcher/machine-types.js";
import { qemuExec } from "../src/launcher/qemu-exec.js";
import { REAL_QEMU } from "./helpers/launcher.js";
import { tempDir } from "./helpers/tmp.js";

const HELP = `Supported machines are:
pc                   Standard PC (i440FX + PIIX, 1996) (alias of pc-i440fx-9.2)
pc-i440fx-9.2        Standard PC (i440FX + PIIX, 1996) (default)
pc-i440fx-10.0       Standard PC (i440FX + PIIX, 1996)
pc-i440fx-2.4        Standard PC (i440FX + PIIX, 1996) (deprecated)
q35                  Standard PC (Q35 + ICH9, 2009) (alias of pc-q35-10.0)
pc-q35-10.0          Standard PC (Q35 + ICH9, 2009)
none                 empty machine
`;

t.test("machine types: parsed from -machine help; one a QEMU lacks refused with the newest of its family", async (t) => {
  const { types, deprecated } = parseMachineHelp(HELP);
  t.same(deprecated, ["pc-i440fx-2.4"]);
  t.equal(missingMachineType("vm1", "pc-i440fx-9.2", types, "/usr/bin/kvm"), undefined, "a type it has");
  t.equal(missingMachineType("vm1", "pc", types, "/usr/bin/kvm"), undefined, "an alias: never refused");
  t.equal(missingMachineType("vm1", "pc-i440fx-5.1", [], "/usr/bin/kvm"), undefined, "no list: no refusal");
  const e = missingMachineType("vm1", "pc-i440fx-5.1", types, "/usr/bin/kvm");
  t.equal(e?.code, "MACHINE_TYPE_MISSING");
  t.match(
    e?.message,
    /instance vm1: .*\/usr\/bin\/kvm\) has no machine type pc-i440fx-5.1.*machine_version=pc-i440fx-10.0 vm1/,
    "10.0 is newer than 9.2",
  );
  t.match(
    missingMachineType("vm1", "pc-q35-2.1", ["pc-i440fx-9.2"], "k")?.message,
    /set its machine_version to a type this QEMU has/,
  );
});

t.test("QEMU's answers are cached per binary, in a cache only root could have written", async (t) => {
  const dir = tempDir(t);
  const cache = join(dir, "cache");
  const version = probeQemuVersion(REAL_QEMU, cache);
  t.equal(version.length, 3);
  t.equal(lstatSync(cache).mode & 0o777, 0o755, "the cache made 0755");
  let asked = 0;
  const count = (out: string) => {
    asked++;
    return out.length;
  };
  probeQemu(REAL_QEMU, cache, ["--version"], count);
  t.equal(asked, 0, "the version cached: QEMU not asked again");
  chmodSync(cache, 0o777);
  probeQemu(REAL_QEMU, cache, ["-machine", "help"], count);
  t.equal(asked, 1, "a cache others can write is not read");
  t.throws(() => probeQemuVersion(join(dir, "no-such-qemu"), cache), { code: "QEMU_NOT_FOUND" });
  const bad = join(dir, "not-qemu");
  writeFileSync(bad, "#!/bin/sh\necho hello\n", { mode: 0o755 });
  t.throws(() => probeQemuVersion(bad, cache), { code: "QEMU_VERSION", message: /cannot read a version/ });
  t.throws(() => probeQemuVersion("/bin/false", cache), { code: "QEMU_VERSION", message: /cannot run/ });
});

t.test("QEMU's stock process name: through a link in the cache, only where no one else can write", async (t) => {
  const dir = tempDir(t);
  const real = join(dir, "kvm.distrib");
  writeFileSync(real, "");
  const cache = join(dir, "cache");
  const exec = qemuExec("/usr/bin/kvm", real, cache);
  t.equal(exec.name, "/usr/bin/kvm");
  t.equal(readlinkSync(exec.path), real, "through a link named kvm");
  t.same(qemuExec("/usr/bin/kvm", real, cache), exec, "found again");
  const open = join(dir, "open");
  mkdirSync(open, { mode: 0o777 });
  chmodSync(open, 0o777);
  t.equal(qemuExec("/usr/bin/kvm", real, open).path, real, "a cache others can write: the binary itself");
  t.equal(qemuExec("/usr/bin/kvm.distrib", real, cache).path, real, "the same file name: no link needed");
});

t.test("QEMU's capabilities for a start: the flag, else the JSON, else the binary", async (t) => {
  const dir = tempDir(t);
  const fake = join(dir, "qemu-9");
  writeFileSync(fake, "#!/bin/sh\necho 'QEMU emulator version 9.1.0 (Debian)'\n", { mode: 0o755 });
  const cacheDir = join(dir, "cache");
  t.same(qemuCaps({ flag: "7.2.22", json: "10.0.2", kvmPath: fake, cacheDir }).version, [7, 2, 22], "the flag first");
  t.same(qemuCaps({ json: "10.0.2", kvmPath: fake, cacheDir }).version, [10, 0, 2], "then the JSON");
  t.same(qemuCaps({ kvmPath: fake, cacheDir }).version, [9, 1, 0], "then the binary itself");
  t.throws(() => qemuCaps({ flag: "seven", kvmPath: fake, cacheDir }), { code: "BAD_QEMU_VERSION", exitCode: 2 });
});
