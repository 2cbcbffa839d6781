// Live storage changes seen by a real Linux guest: a disk grown by disk-grow (virtio-blk at once,
// scsi-hd through virtio-scsi's capacity-change event and the rescan it triggers in the guest), and
// a CD-ROM medium changed and ejected by cdrom-change (the test guest reads its drive once a second).
import { truncateSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import t from "tap";
import { guestFiles, guestKernel, waitConsole } from "../lab/guest.js";
import { type EnvVars, loadEnv, runHook } from "./helpers/hook.js";
import { startInstance } from "./helpers/instance.js";
import { tempDir } from "./helpers/tmp.js";

const GROW_ENV = loadEnv("ganeti-3.0.2/disk-grow-online-post.env");
const MODIFY = loadEnv("ganeti-3.0.2/instance-modify-hvparams-offline-post.env");
const APPEND = "console=ttyS0 panic=-1 quiet";
const MIB = 1 << 20;
t.comment(`guest kernel: ${guestKernel()}`);

for (const [hv, dev] of [
  [{ disk_type: "paravirtual" }, "vd[a-z]"],
  [{ disk_type: "scsi-hd", scsi_controller_type: "virtio-scsi-pci" }, "sd[a-z]"],
] as [Record<string, string>, string][]) {
  t.test(`${hv["disk_type"]}: the guest sees the grown disk's new capacity`, async (t) => {
    const inst = await startInstance(t, hv, {
      running: true,
      memory: 256,
      kernel: { ...guestFiles(), append: APPEND, console: "" },
    });
    const boot = await waitConsole(inst.consoleLog, /GUEST: BOOT-OK/, 90_000);
    truncateSync(join(inst.diskDir, "image1.raw"), 40 * MIB);
    const res = await runHook("disk-grow", inst.env(GROW_ENV), { args: inst.pathArgs });
    t.equal(res.code, 0, res.stderr);
    // The guest's new size is the state waited for: a resize to any other size fails at once.
    const resized = { re: new RegExp(`GUEST: resize (${dev}) sectors=(?<state>\\d+)`), expected: String((40 * MIB) / 512) };
    const seen = await waitConsole(inst.consoleLog, resized, 30_000, boot.end);
    t.equal(Number(seen.match.groups?.["state"]) * 512, 40 * MIB, `the guest's /dev/${seen.match[1]} has 40 MiB`);
  });
}

t.test("IDE CD-ROM: the guest reads the new medium after a change, and nothing after an eject", async (t) => {
  const dir = tempDir(t);
  const iso = (name: string, marker: string) => {
    const data = Buffer.alloc(1 << 20);
    data.write(marker);
    writeFileSync(join(dir, name), data);
    return join(dir, name);
  };
  const one = iso("one.iso", "MEDIUM-ONE");
  const two = iso("two.iso", "MEDIUM-TWO");
  const inst = await startInstance(
    t,
    { disk_type: "paravirtual", cdrom_disk_type: "ide", cdrom_image_path: one },
    { running: true, memory: 256, kernel: { ...guestFiles(), append: APPEND, console: "" } },
  );
  const boot = await waitConsole(inst.consoleLog, /GUEST: BOOT-OK/, 90_000);
  // A medium the guest reports is a state: it reads the expected one, or the wait fails (another
  // medium at once, none by the deadline). A read that failed is an "error=" line, not a state.
  const medium = (expected: string) => ({ re: /GUEST: media (sr\d) data=(?<state>\S*)/, expected });
  const first = await waitConsole(inst.consoleLog, medium("MEDIUM-ONE"), 30_000, boot.end);
  const change = (before: string, after: string): EnvVars => ({
    ...MODIFY,
    GANETI_INSTANCE_HV_cdrom_image_path: before,
    GANETI_POST_INSTANCE_HV_cdrom_image_path: after,
  });
  const res = await runHook("cdrom-change", change(one, two), { args: inst.pathArgs });
  t.equal(res.code, 0, res.stderr);
  const seen = await waitConsole(inst.consoleLog, medium("MEDIUM-TWO"), 30_000, first.end);
  t.equal(seen.match.groups?.["state"], "MEDIUM-TWO", `the guest reads the new medium's marker from /dev/${seen.match[1]}`);
  const eject = await runHook("cdrom-change", change(two, ""), { args: inst.pathArgs });
  t.equal(eject.code, 0, eject.stderr);
  const gone = await waitConsole(inst.consoleLog, medium(""), 30_000, seen.end);
  t.equal(gone.match.groups?.["state"], "", "after the eject the guest reads nothing");
});
