// Ganeti's disk links (src/hotplug/disk-link.ts), in-process on a scratch directory: each case of
// settleDiskLink, and alignLinks over an instance whose indexes moved. disk-link.qemu.test.ts
// proves them through the hooks, with QEMU.
import { lstatSync, mkdirSync, readlinkSync, symlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import t, { type Test } from "tap";
import { alignLinks, settleDiskLink } from "../src/hotplug/disk-link.js";
import { tempDir } from "./helpers/tmp.js";

function node(t: Test) {
  const dir = tempDir(t);
  mkdirSync(join(dir, "links"));
  const image = (name: string) => {
    const p = join(dir, name);
    writeFileSync(p, "");
    return p;
  };
  const warnings: string[] = [];
  return { dir, link: (i: number) => join(dir, "links", `inst1:${i}`), image, warnings, warn: (m: string) => warnings.push(m) };
}

t.test("settleDiskLink: created, kept, repaired, or refused", async (t) => {
  const n = node(t);
  const [a, b] = [n.image("a.img"), n.image("b.img")];
  t.equal(settleDiskLink(n.link(0), a, n.warn), "created");
  t.equal(readlinkSync(n.link(0)), a, "pointing at the disk's own path");
  t.equal(settleDiskLink(n.link(0), a, n.warn), "kept");
  symlinkSync(join(n.dir, "gone.img"), n.link(1));
  t.equal(settleDiskLink(n.link(1), b, n.warn), "repaired", "a dangling link is replaced");
  t.match(n.warnings, [/replaced the dangling link/]);
  t.equal(settleDiskLink(n.link(0), b, n.warn, [a, b]), "repaired", "a sibling's link is pointed at its own disk");
  t.match(n.warnings.at(-1), /another disk of this instance whose index moved/);
  const foreign = n.image("foreign.img");
  symlinkSync(foreign, n.link(2));
  t.throws(() => settleDiskLink(n.link(2), a, n.warn, [a, b]), {
    code: "DISK_LINK_MISMATCH",
    message: /points at .*foreign\.img/,
  });
  writeFileSync(n.link(3), "not a link");
  t.throws(() => settleDiskLink(n.link(3), a, n.warn), { code: "DISK_LINK_MISMATCH", message: /is not a link/ });
  t.throws(() => settleDiskLink(n.link(4), join(n.dir, "missing.img"), n.warn), { code: "DISK_PATH_MISSING" });
  t.ok(lstatSync(n.link(2)).isSymbolicLink(), "a refused link is left as it was");
});

t.test("alignLinks: every link by Ganeti's current index; what is foreign or absent is reported, not touched", async (t) => {
  const n = node(t);
  const [a, b, f] = [n.image("a.img"), n.image("b.img"), n.image("foreign.img")];
  symlinkSync(b, n.link(0)); // an older disk/0 was removed: link 0 still names what is now disk/1
  symlinkSync(f, n.link(2));
  const reports: string[] = [];
  const right = alignLinks(
    [
      { index: 0, uuid: "u-a", path: a },
      { index: 1, uuid: "u-b", path: b },
      { index: 2, uuid: "u-c", path: join(n.dir, "elsewhere.img") },
      { index: 3, uuid: "u-d", path: a },
    ],
    n.link,
    [a, b],
    (m) => reports.push(m),
  );
  t.same([...right.keys()], ["u-a", "u-b", "u-d"], "the disks whose link is right now");
  t.equal(readlinkSync(n.link(0)), a);
  t.equal(readlinkSync(n.link(1)), b);
  t.equal(readlinkSync(n.link(2)), f, "a path not on this node: its link untouched");
  t.match(reports, [/pointed .*inst1:0 at .*a\.img/, /created .*inst1:1 for disk\/1, as Ganeti would/, /created .*inst1:3/]);
});
