// Where each kind of Ganeti disk lives, from its logical_id or from the hook environment's
// flattened DISKn_* variables: the path disk-add opens instead of trusting Ganeti's link.
import t from "tap";
import { dataPath } from "../src/ganeti/disk-path.js";
import { readHookEnv } from "../src/ganeti/env.js";
import type { DevType } from "../src/generated/common.js";
import { loadEnv } from "./helpers/hook.js";

const ADD_ENV = loadEnv("ganeti-3.0.2/instance-modify-disk-add-hotplug-post.env");

t.test("logical_id as Ganeti keeps it", async (t) => {
  const cases: [DevType, (string | number)[] | undefined, string | undefined][] = [
    ["file", ["loop", "/srv/ganeti/file-storage/i/d.file.disk0"], "/srv/ganeti/file-storage/i/d.file.disk0"],
    ["sharedfile", ["loop", "/srv/shared/i/d.disk1"], "/srv/shared/i/d.disk1"],
    ["blockdev", ["manual", "/dev/disk/lab/lab0"], "/dev/disk/lab/lab0"],
    ["plain", ["xenvg", "0d34cf9c.disk1"], "/dev/xenvg/0d34cf9c.disk1"],
    ["drbd", ["node-a-uuid", "node-b-uuid", 11000, 3, 5, "secret"], "/dev/drbd3"],
    ["drbd", ["a", "b", 11000, "x", 5, "s"], undefined],
    ["plain", ["xenvg"], undefined],
    ["rbd", ["rbd", "image.rbd.disk0"], undefined],
    ["ext", ["provider", "vol.ext.disk0"], undefined],
    ["gluster", ["gluster", "vol/disk0"], undefined],
    ["file", undefined, undefined],
  ];
  for (const [devType, logicalId, want] of cases)
    t.equal(dataPath(devType, logicalId), want, `${devType} ${JSON.stringify(logicalId)}`);
});

t.test("the hook environment's DISKn_* variables", async (t) => {
  const post = (fields: Record<string, string>) => {
    const env: Record<string, string> = { ...ADD_ENV };
    for (const k of ["DRIVER", "ID"]) delete env[`GANETI_POST_INSTANCE_DISK2_${k}`];
    for (const [k, v] of Object.entries(fields)) env[`GANETI_POST_INSTANCE_DISK2_${k}`] = v;
    return readHookEnv(env).post?.disks[2];
  };
  t.equal(post({ DEV_TYPE: "plain", VG: "xenvg", ID: "lv0" })?.dataPath, "/dev/xenvg/lv0", "plain: /dev/<VG>/<ID>");
  t.equal(post({ DEV_TYPE: "drbd", PMINOR: "7" })?.dataPath, "/dev/drbd7", "drbd: /dev/drbd<PMINOR>");
  t.equal(post({ DEV_TYPE: "blockdev", DRIVER: "manual", ID: "/dev/disk/x" })?.dataPath, "/dev/disk/x", "blockdev: ID");
  t.equal(post({ DEV_TYPE: "rbd", DRIVER: "rbd", ID: "img" })?.dataPath, undefined, "rbd: only the link can tell");
  t.equal(
    readHookEnv(ADD_ENV).post?.disks[2]?.dataPath,
    ADD_ENV["GANETI_POST_INSTANCE_DISK2_ID"],
    "a recorded file disk: its ID",
  );
  t.throws(
    () => post({ DEV_TYPE: "drbd", PMINOR: "seven" }),
    /GANETI_POST_INSTANCE_DISK2_PMINOR/,
    "a bad minor names the variable",
  );
});
