// The master's cluster-verify check of machine types against the nodes an instance could move to:
// which nodes could receive an instance (Ganeti's own listing), and what is said for each gap.
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import t from "tap";
import { listPlacements, machineGaps, placements, statusIn } from "../src/node/cluster-verify.js";
import type { NodeStatus } from "../src/node/node-status.js";
import { tempDir } from "./helpers/tmp.js";

const cluster = { nodes: ["n1", "n2", "n3", "n4"], skipped: ["n4"] };
const status = (qemu: string, machineTypes: string[], running: { instance: string; machine: string }[] = []): NodeStatus => ({
  version: "1",
  build: "b",
  hooks: [],
  launcher: [],
  problems: [],
  qemu,
  machineTypes,
  running,
});

t.test(
  "who could receive an instance: its DRBD secondary, any verified node for shared storage, none for local disks",
  async (t) => {
    const got = placements(
      "drbd1|n1|n2|drbd|web,disk-qos:disk0:iops:5|['u0', 'u1']\nshared1|n1||sharedfile||\nrbd1|n2||rbd||\nplain1|n1||plain||\nfile1|n3||file||\n",
      cluster,
    );
    const none = { tags: [], disks: [] };
    t.same(Object.fromEntries(got), {
      drbd1: { primary: "n1", receivers: ["n2"], tags: ["web", "disk-qos:disk0:iops:5"], disks: ["u0", "u1"] },
      shared1: { primary: "n1", receivers: ["n2", "n3"], ...none },
      rbd1: { primary: "n2", receivers: ["n1", "n3"], ...none },
      plain1: { primary: "n1", receivers: [], ...none },
      file1: { primary: "n3", receivers: [], ...none },
    });
  },
);

t.test("a running instance whose machine type a receiving node's QEMU lacks: one line per instance and node", async (t) => {
  const statuses = new Map([
    [
      "n1",
      status(
        "7.2.22",
        ["pc-i440fx-2.3", "pc-i440fx-7.2"],
        [
          { instance: "old", machine: "pc-i440fx-2.3" },
          { instance: "new", machine: "pc-i440fx-7.2" },
          { instance: "alias", machine: "pc" },
        ],
      ),
    ],
    ["n2", status("10.0.2", ["pc-i440fx-7.2", "pc-i440fx-10.0"])],
    ["n3", { ...status("10.0.2", []), machineTypes: undefined } as NodeStatus],
  ]);
  const places = placements("old|n1||sharedfile\nnew|n1||sharedfile\nalias|n1||sharedfile\n", cluster);
  t.same(
    machineGaps(statuses, places),
    [
      "instance old runs machine type pc-i440fx-2.3 on n1, which n2's QEMU 10.0.2 lacks: it can neither migrate nor fail over there; set its machine_version to a type both have",
    ],
    "only the type n2 dropped; an alias (pc) always exists; a node that does not say (n3) is left out",
  );
  const drbd = placements("old|n1|n3|drbd\n", cluster);
  t.same(machineGaps(statuses, drbd), [], "a DRBD instance goes only to its secondary, which did not say");
});

t.test("the master's listing comes from Ganeti's CLI; where it does not answer, the check is skipped", async (t) => {
  const dir = tempDir(t);
  const path = process.env["PATH"];
  t.teardown(() => {
    process.env["PATH"] = path;
  });
  // A stand-in for Ganeti's CLI, where none runs: its output as Ganeti prints it for these fields.
  writeFileSync(join(dir, "gnt-instance"), "#!/bin/sh\nprintf 'web1|n1|n2|drbd|disk-qos:all:bps:1M|u0\\n'\n", { mode: 0o755 });
  process.env["PATH"] = dir;
  t.same(
    Object.fromEntries(await listPlacements({ ...cluster, name: "c", me: "n1", hostname: "n1", master: "n1", sshPorts: {} })),
    {
      web1: { primary: "n1", receivers: ["n2"], tags: ["disk-qos:all:bps:1M"], disks: ["u0"] },
    },
  );
  process.env["PATH"] = join(dir, "none");
  t.equal((await listPlacements({ ...cluster, name: "c", me: "n1", hostname: "n1", master: "n1", sshPorts: {} })).size, 0);
});

t.test("a node's answer that is not a status is one line", async (t) => {
  t.match(statusIn("ssh: connect refused"), /^not a status it answered: /);
  t.match(statusIn('{"version": 1}'), /^not a status it answered: .*its answer at/);
});
