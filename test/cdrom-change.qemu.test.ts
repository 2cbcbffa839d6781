// cdrom-change: a CD-ROM medium changed live when gnt-instance modify -H cdrom_image_path=... changes
// it, with the blockdev tray sequence, in the environment of a recorded hvparams modify.
import { mkdirSync } from "node:fs";
import { join } from "node:path";
import t from "tap";
import { change, inDrive, instanceWithCdrom } from "./helpers/cdrom.js";
import { loadEnv, runHook } from "./helpers/hook.js";
import { serveFile } from "./helpers/http.js";
import { namedNodes } from "./helpers/inspect.js";

for (const cdromType of ["ide", "scsi-cd"]) {
  t.test(`${cdromType}: a new image, then an eject, through the tray`, async (t) => {
    const { inst, one, two } = await instanceWithCdrom(t, cdromType);
    t.match(await inDrive(inst, "cdrom1"), { node: "cdrom1", file: one, ro: true }, "the first image at start");
    const res = await runHook("cdrom-change", change(one, two), { args: inst.pathArgs });
    t.equal(res.code, 0, res.stderr);
    t.same(res.json?.change, ["cdrom/1", "medium:done"]);
    const now = await inDrive(inst, "cdrom1");
    t.equal(now?.file, two, "the new image is in the drive");
    t.equal(now?.ro, true, "read-only");
    t.match(now?.node, /^cdrom1-[0-9a-f]{8}$/, "under a node name of its own (at most 31 characters with -file)");
    t.notOk(
      (await namedNodes(inst.vm.qmp)).some((n) => n["node-name"] === "cdrom1"),
      "the old medium's node is deleted",
    );
    const eject = await runHook("cdrom-change", change(two, ""), { args: inst.pathArgs });
    t.equal(eject.code, 0, eject.stderr);
    t.equal(await inDrive(inst, "cdrom1"), undefined, "an empty value ejects");
    t.notOk(
      (await namedNodes(inst.vm.qmp)).some((n) => n["node-name"].startsWith("cdrom1")),
      "no medium node is left",
    );
  });
}

t.test("a new image that does not exist or cannot be opened: the old medium stays in", async (t) => {
  const { inst, one, base } = await instanceWithCdrom(t, "ide");
  const missing = await runHook("cdrom-change", change(one, join(base, "none.iso")), { args: inst.pathArgs });
  t.equal(missing.code, 1);
  t.same(missing.json?.change, ["cdrom/1", "medium:failed"]);
  t.equal(missing.json?.error?.code, "MEDIUM_MISSING");
  t.match(await inDrive(inst, "cdrom1"), { file: one }, "the old medium is still in");
  const dir = join(base, "a-directory.iso");
  mkdirSync(dir);
  const unopenable = await runHook("cdrom-change", change(one, dir), { args: inst.pathArgs });
  t.equal(unopenable.code, 1);
  t.equal(unopenable.json?.error?.code, "MEDIUM_OPEN_FAILED");
  t.match(unopenable.json?.error?.message, /the old medium stays inserted/);
  t.match(await inDrive(inst, "cdrom1"), { file: one }, "still the old medium");
});

t.test("an HTTP image, checked as at instance-start", async (t) => {
  const { inst, one, two } = await instanceWithCdrom(t, "ide");
  const url = await serveFile(t, two);
  const res = await runHook("cdrom-change", change(one, url), { args: inst.pathArgs });
  t.equal(res.code, 0, res.stderr);
  const now = await inDrive(inst, "cdrom1");
  t.ok(now?.node.startsWith("cdrom1-"), "a new medium is in");
  const noRange = await serveFile(t, two, { ranges: false });
  const bad = await runHook("cdrom-change", change(url, noRange), { args: inst.pathArgs });
  t.equal(bad.code, 1, "a server without Range support: refused");
  t.equal(bad.json?.error?.code, "RANGE_UNSUPPORTED");
  t.equal((await inDrive(inst, "cdrom1"))?.node, now?.node, "and the medium stays");
});

t.test("a virtio-blk CD-ROM has no tray: a note, nothing touched", async (t) => {
  const { inst, one, two } = await instanceWithCdrom(t, "paravirtual");
  const res = await runHook("cdrom-change", change(one, two), { args: inst.pathArgs });
  t.equal(res.code, 0, res.stderr);
  t.match(res.stderr, /virtio-blk CD-ROM, which has no tray: cdrom_image_path=.* takes effect at the instance's next start/);
  t.match(await inDrive(inst, "cdrom1"), { node: "cdrom1", file: one }, "the old medium stays");
});

t.test("nothing changed, pre phase, or another node: exit 0, nothing sent", async (t) => {
  const { inst, one } = await instanceWithCdrom(t, "ide");
  const same = await runHook("cdrom-change", change(one, one), { args: inst.pathArgs });
  t.equal(same.code, 0);
  t.match(same.stderr, /no CD-ROM image changed/);
  const pre = await runHook("cdrom-change", loadEnv("ganeti-3.0.2/instance-modify-hvparams-offline-pre.env"), {
    args: inst.pathArgs,
  });
  t.equal(pre.code, 0);
  t.match(pre.stderr, /post phase only/);
  t.match(await inDrive(inst, "cdrom1"), { node: "cdrom1", file: one });
});
